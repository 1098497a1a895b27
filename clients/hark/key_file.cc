#include "clients/hark/key_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace hark::cli {
namespace {

bool IsRole(absl::string_view role) {
  return role == "ingest" || role == "research" || role == "review" ||
         role == "admin";
}

}  // namespace

absl::StatusOr<std::vector<ClientKey>> ParseClientKeyFile(
    absl::string_view contents, absl::string_view source) {
  std::vector<ClientKey> keys;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields.size() != 3) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ":", line_number, ": expected 'name role key', got ",
          fields.size(), fields.size() == 1 ? " field" : " fields"));
    }
    if (!IsRole(fields[1])) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ":", line_number, ": unknown role '", fields[1],
                       "'; expected ingest, research, review or admin"));
    }
    keys.push_back(ClientKey{std::string(fields[0]), std::string(fields[1]),
                             std::string(fields[2])});
  }
  return keys;
}

absl::StatusOr<std::vector<ClientKey>> ReadClientKeyFile(
    const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    std::string message =
        absl::StrCat("cannot read ", path, ": ", std::strerror(err));
    if (err == ENOENT) return absl::NotFoundError(message);
    return absl::PermissionDeniedError(message);
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return ParseClientKeyFile(buffer.str(), path);
}

absl::StatusOr<ClientKey> SelectKey(const std::vector<ClientKey>& keys,
                                    absl::Span<const absl::string_view> roles,
                                    absl::string_view source) {
  for (absl::string_view role : roles) {
    for (const ClientKey& key : keys) {
      if (key.role == role) return key;
    }
  }
  std::vector<std::string> present;
  for (const ClientKey& key : keys) present.push_back(key.role);
  return absl::NotFoundError(absl::StrCat(
      source, " has no key with role ", absl::StrJoin(roles, " or "),
      present.empty()
          ? " (it has no keys)"
          : absl::StrCat(" (it has: ", absl::StrJoin(present, ", "), ")")));
}

}  // namespace hark::cli
