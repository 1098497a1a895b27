#ifndef HARK_SERVER_AUTH_AUTH_H_
#define HARK_SERVER_AUTH_AUTH_H_

// API keys and roles. The server stores only SHA-256 hashes of keys.

#include <memory>
#include <string>
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
// for a method outside hark.v1.
absl::StatusOr<std::vector<Role>> RolesForMethod(absl::string_view method);

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
  static absl::StatusOr<std::unique_ptr<KeyRing>> Load(absl::string_view path);

  // Checks the value of the `authorization` metadata ("Bearer <key>")
  // against the roles allowed for `method`. UNAUTHENTICATED for a missing,
  // malformed or unknown key; PERMISSION_DENIED for a known key whose role
  // may not call `method`. Keys are compared in constant time.
  absl::StatusOr<Principal> Authorize(absl::string_view authorization,
                                      absl::string_view method) const;

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string name;
    Role role;
    std::string sha256;  // 32 raw bytes
  };
  explicit KeyRing(std::vector<Entry> entries)
      : entries_(std::move(entries)) {}
  std::vector<Entry> entries_;
};

}  // namespace hark::auth

#endif  // HARK_SERVER_AUTH_AUTH_H_
