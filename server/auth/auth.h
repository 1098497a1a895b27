#ifndef HARK_SERVER_AUTH_AUTH_H_
#define HARK_SERVER_AUTH_AUTH_H_

// API keys and roles. The server stores only SHA-256 hashes of keys.
//
// A key is "hark_<role>_<43 characters of base64url>" (32 random bytes). The
// role in the key's text is a hint for humans only: the role that counts is
// the one recorded next to the key's hash in the server key file.
//
// Server key file: one key per line, "name role sha256-hex" separated by
// blanks; blank lines and lines starting with '#' are ignored. Names are
// unique, 1-64 characters of [A-Za-z0-9_.-].
// Client key file (read by the `hark` CLI): "name role key", same rules.
// Both are written with mode 0600 and replaced atomically.

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hark::auth {

enum class Role { kIngest, kResearch, kReview, kAdmin };

// "ingest", "research", "review", "admin".
absl::string_view RoleName(Role role);
absl::StatusOr<Role> ParseRole(absl::string_view name);

// The caller behind a valid key.
struct Principal {
  std::string key_name;
  Role role;
};

// The roles allowed to call a full gRPC method name such as
// "/hark.v1.Ingest/TrackEvents". `admin` is allowed everything. NOT_FOUND
// for a method outside hark.v1 and for a hark.v1 method the table does not
// know (deny by default: a new RPC must be added to the table on purpose).
//   ingest:   Ingest/*, Prompts/*
//   research: Rules/*, Review/{ListResponses,GetResponse,GetReport,
//             ExportResponses}
//   review:   Review/*
//   admin:    everything above and Admin/*
absl::StatusOr<std::vector<Role>> RolesForMethod(absl::string_view method);

// A new random key for `role`, "hark_<role>_<43 chars base64url>".
// INTERNAL if the system's random source fails.
absl::StatusOr<std::string> GenerateKey(Role role);

// SHA-256 of `key`, as 64 lowercase hex digits (the server file's form).
std::string HashKeyHex(absl::string_view key);

struct KeyFiles {
  // The server's key file: one line per key, "name role sha256-hex".
  std::string server_path;
  // The keys themselves, for the CLI: one line per key, "name role key".
  std::string client_path;
};

class KeyRing {
 public:
  // Loads `files.server_path`. If it does not exist, creates one key per
  // role, writes both files with mode 0600 and sets `*created`.
  static absl::StatusOr<std::unique_ptr<KeyRing>> LoadOrCreate(
      const KeyFiles& files, bool* created);

  // Loads an existing server key file. Errors name the file and line.
  // NOT_FOUND if the file does not exist; INVALID_ARGUMENT for a malformed
  // line or a file without keys.
  static absl::StatusOr<std::unique_ptr<KeyRing>> Load(absl::string_view path);

  // Parses the contents of a server key file; `source` names it in errors
  // ("<source>:<line>: ...").
  static absl::StatusOr<std::unique_ptr<KeyRing>> Parse(
      absl::string_view contents, absl::string_view source);

  // Checks the value of the `authorization` metadata ("Bearer <key>")
  // against the roles allowed for `method`. UNAUTHENTICATED for a missing,
  // malformed or unknown key; PERMISSION_DENIED for a known key whose role
  // may not call `method`, and for a method RolesForMethod does not know.
  // The scheme is case-insensitive. The key's hash is compared with every
  // entry in constant time, whether or not an earlier entry matched.
  absl::StatusOr<Principal> Authorize(absl::string_view authorization,
                                      absl::string_view method) const;

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string name;
    Role role;
    std::string sha256;  // 32 raw bytes
  };
  explicit KeyRing(std::vector<Entry> entries) : entries_(std::move(entries)) {}
  std::vector<Entry> entries_;
};

}  // namespace hark::auth

#endif  // HARK_SERVER_AUTH_AUTH_H_
