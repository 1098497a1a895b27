#ifndef HARK_CLIENTS_HARK_KEY_FILE_H_
#define HARK_CLIENTS_HARK_KEY_FILE_H_

// The client key file harkd writes on its first start (default
// data/hark-cli.keys): one key per line, "name role key", separated by
// blanks; blank lines and lines starting with '#' are ignored. The CLI has its
// own reader because clients depend on the generated stubs only, not on
// server code.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace hark::cli {

struct ClientKey {
  std::string name;
  std::string role;  // ingest, research, review or admin
  std::string key;
};

// Parses the file's contents; `source` names it in errors
// ("<source>:<line>: ...", INVALID_ARGUMENT).
absl::StatusOr<std::vector<ClientKey>> ParseClientKeyFile(
    absl::string_view contents, absl::string_view source);

// Reads and parses `path`. NOT_FOUND if it does not exist.
absl::StatusOr<std::vector<ClientKey>> ReadClientKeyFile(
    const std::string& path);

// The first key whose role is roles[0], else the first with roles[1], ...
// NOT_FOUND naming the roles wanted and the roles the file has.
absl::StatusOr<ClientKey> SelectKey(const std::vector<ClientKey>& keys,
                                    absl::Span<const absl::string_view> roles,
                                    absl::string_view source);

}  // namespace hark::cli

#endif  // HARK_CLIENTS_HARK_KEY_FILE_H_
