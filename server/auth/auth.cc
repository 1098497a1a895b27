#include "server/auth/auth.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "hark/status_macros.h"

namespace hark::auth {
namespace {

constexpr size_t kSha256Size = 32;
constexpr size_t kKeyRandomBytes = 32;
// Longer credentials are refused before hashing; real keys are ~55 bytes.
constexpr size_t kMaxKeyLength = 512;

constexpr Role kAllRoles[] = {Role::kIngest, Role::kResearch, Role::kReview,
                              Role::kAdmin};

struct MethodRoles {
  absl::string_view method;
  std::vector<Role> roles;
};

// The access table. Every hark.v1 RPC is listed explicitly so that a new RPC
// is unreachable until someone decides who may call it (the unit test checks
// that every method in the protos is listed).
const std::vector<MethodRoles>& MethodTable() {
  static const auto* table = [] {
    const std::vector<Role> ingest = {Role::kIngest, Role::kAdmin};
    const std::vector<Role> research = {Role::kResearch, Role::kAdmin};
    const std::vector<Role> read_review = {Role::kResearch, Role::kReview,
                                           Role::kAdmin};
    const std::vector<Role> review = {Role::kReview, Role::kAdmin};
    const std::vector<Role> admin = {Role::kAdmin};
    return new std::vector<MethodRoles>{
        {"/hark.v1.Ingest/TrackEvents", ingest},
        {"/hark.v1.Ingest/StreamEvents", ingest},
        {"/hark.v1.Ingest/IdentifyUser", ingest},
        {"/hark.v1.Prompts/GetPrompts", ingest},
        {"/hark.v1.Prompts/WatchPrompts", ingest},
        {"/hark.v1.Prompts/RecordPromptEvent", ingest},
        {"/hark.v1.Prompts/SubmitResponse", ingest},
        {"/hark.v1.Prompts/RecordInterview", ingest},
        {"/hark.v1.Rules/ValidateRules", research},
        {"/hark.v1.Rules/ApplyRules", research},
        {"/hark.v1.Rules/GetRules", research},
        {"/hark.v1.Rules/TestRules", research},
        {"/hark.v1.Rules/ListMatches", research},
        {"/hark.v1.Rules/Backtest", research},
        {"/hark.v1.Review/ListResponses", read_review},
        {"/hark.v1.Review/GetResponse", read_review},
        {"/hark.v1.Review/GetReport", read_review},
        {"/hark.v1.Review/ExportResponses", read_review},
        {"/hark.v1.Review/TagResponse", review},
        {"/hark.v1.Admin/Explain", read_review},
        {"/hark.v1.Admin/DeleteUser", admin},
        {"/hark.v1.Admin/GetStats", admin},
    };
  }();
  return *table;
}

std::string RoleList(const std::vector<Role>& roles) {
  return absl::StrJoin(roles, ", ", [](std::string* out, Role role) {
    absl::StrAppend(out, RoleName(role));
  });
}

std::array<unsigned char, kSha256Size> Sha256(absl::string_view data) {
  std::array<unsigned char, kSha256Size> digest{};
  unsigned int size = 0;
  // EVP_Digest with SHA-256 only fails on allocation failure, which the
  // rest of the process does not survive either.
  EVP_Digest(data.data(), data.size(), digest.data(), &size, EVP_sha256(),
             nullptr);
  return digest;
}

bool IsValidName(absl::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '_' && c != '.' && c != '-') {
      return false;
    }
  }
  return true;
}

bool IsLowerHex(absl::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isdigit(c) && !(c >= 'a' && c <= 'f')) return false;
  }
  return true;
}

absl::Status ErrnoStatus(absl::string_view what, absl::string_view path,
                         int err) {
  std::string message = absl::StrCat(what, " ", path, ": ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(message);
  if (err == EACCES || err == EPERM) {
    return absl::PermissionDeniedError(message);
  }
  return absl::InternalError(message);
}

// Writes `contents` to `path` so that the file is never readable by others
// and never seen half-written: a temporary file beside it is created with
// mode 0600 (O_EXCL, so no pre-existing file's mode is inherited), written,
// synced and renamed over `path`. Creates the parent directory if missing.
absl::Status WritePrivateFile(const std::string& path,
                              absl::string_view contents) {
  std::filesystem::path target(path);
  std::filesystem::path dir = target.parent_path();
  if (!dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      return absl::InternalError(absl::StrCat(
          "cannot create directory ", dir.string(), ": ", ec.message()));
    }
  }
  std::string tmp = absl::StrCat(path, ".tmp.", getpid());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus("cannot create", tmp, errno);
  // umask may only clear bits of 0600; set it explicitly anyway so the mode
  // does not depend on the caller's umask.
  absl::Status status;
  if (fchmod(fd, 0600) != 0) status = ErrnoStatus("cannot chmod", tmp, errno);
  size_t written = 0;
  while (status.ok() && written < contents.size()) {
    ssize_t n = write(fd, contents.data() + written, contents.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      status = ErrnoStatus("cannot write", tmp, errno);
      break;
    }
    written += static_cast<size_t>(n);
  }
  if (status.ok() && fsync(fd) != 0) {
    status = ErrnoStatus("cannot sync", tmp, errno);
  }
  if (close(fd) != 0 && status.ok()) {
    status = ErrnoStatus("cannot close", tmp, errno);
  }
  if (status.ok() && rename(tmp.c_str(), path.c_str()) != 0) {
    status = ErrnoStatus("cannot rename to", path, errno);
  }
  if (!status.ok()) {
    unlink(tmp.c_str());
    return status;
  }
  // Make the rename itself durable; failure here only weakens durability.
  int dir_fd =
      open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    fsync(dir_fd);
    close(dir_fd);
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view RoleName(Role role) {
  switch (role) {
    case Role::kIngest:
      return "ingest";
    case Role::kResearch:
      return "research";
    case Role::kReview:
      return "review";
    case Role::kAdmin:
      return "admin";
  }
  return "unknown";
}

absl::StatusOr<Role> ParseRole(absl::string_view name) {
  for (Role role : kAllRoles) {
    if (name == RoleName(role)) return role;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown role '", name,
                   "'; expected one of ingest, research, review, admin"));
}

absl::StatusOr<std::vector<Role>> RolesForMethod(absl::string_view method) {
  for (const MethodRoles& entry : MethodTable()) {
    if (entry.method == method) return entry.roles;
  }
  if (!absl::StartsWith(method, "/hark.v1.")) {
    return absl::NotFoundError(
        absl::StrCat("method ", method, " is not part of hark.v1"));
  }
  return absl::NotFoundError(
      absl::StrCat("method ", method, " is not in the access table"));
}

absl::StatusOr<std::string> GenerateKey(Role role) {
  unsigned char bytes[kKeyRandomBytes];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    return absl::InternalError("RAND_bytes failed: no secure random source");
  }
  std::string key =
      absl::StrCat("hark_", RoleName(role), "_",
                   absl::WebSafeBase64Escape(absl::string_view(
                       reinterpret_cast<const char*>(bytes), sizeof(bytes))));
  OPENSSL_cleanse(bytes, sizeof(bytes));
  return key;
}

std::string HashKeyHex(absl::string_view key) {
  std::array<unsigned char, kSha256Size> digest = Sha256(key);
  return absl::BytesToHexString(absl::string_view(
      reinterpret_cast<const char*>(digest.data()), digest.size()));
}

absl::StatusOr<std::unique_ptr<KeyRing>> KeyRing::Parse(
    absl::string_view contents, absl::string_view source) {
  std::vector<Entry> entries;
  absl::flat_hash_set<std::string> names;
  absl::flat_hash_set<std::string> hashes;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    auto error = [&](absl::string_view what) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ":", line_number, ": ", what));
    };
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields.size() != 3) {
      return error(absl::StrCat("expected 'name role sha256-hex', got ",
                                fields.size(), " field",
                                fields.size() == 1 ? "" : "s"));
    }
    if (!IsValidName(fields[0])) {
      return error(absl::StrCat("invalid key name '", fields[0],
                                "': use 1-64 characters of [A-Za-z0-9_.-]"));
    }
    absl::StatusOr<Role> role = ParseRole(fields[1]);
    if (!role.ok()) return error(role.status().message());
    std::string hex = absl::AsciiStrToLower(fields[2]);
    if (hex.size() != 2 * kSha256Size || !IsLowerHex(hex)) {
      return error(
          "the third field must be the key's SHA-256 as 64 hex digits "
          "(the server file never holds keys themselves)");
    }
    if (!names.insert(std::string(fields[0])).second) {
      return error(absl::StrCat("duplicate key name '", fields[0], "'"));
    }
    if (!hashes.insert(hex).second) {
      return error("the same key hash appears twice");
    }
    entries.push_back(
        Entry{std::string(fields[0]), *role, absl::HexStringToBytes(hex)});
  }
  if (entries.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": no keys; every call would be refused"));
  }
  return std::unique_ptr<KeyRing>(new KeyRing(std::move(entries)));
}

absl::StatusOr<std::unique_ptr<KeyRing>> KeyRing::Load(absl::string_view path) {
  std::string p(path);
  std::ifstream in(p, std::ios::binary);
  if (!in) return ErrnoStatus("cannot open key file", p, errno);
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return ErrnoStatus("cannot read key file", p, errno);
  return Parse(buffer.str(), path);
}

absl::StatusOr<std::unique_ptr<KeyRing>> KeyRing::LoadOrCreate(
    const KeyFiles& files, bool* created) {
  if (created != nullptr) *created = false;
  if (files.server_path.empty() || files.client_path.empty()) {
    return absl::InvalidArgumentError("both key file paths must be set");
  }
  if (files.server_path == files.client_path) {
    return absl::InvalidArgumentError(
        "the server and client key files must be different files");
  }
  struct stat st;
  if (stat(files.server_path.c_str(), &st) == 0) {
    return Load(files.server_path);
  }
  if (errno != ENOENT) {
    return ErrnoStatus("cannot stat key file", files.server_path, errno);
  }

  const std::string now =
      absl::FormatTime(absl::RFC3339_sec, absl::Now(), absl::UTCTimeZone());
  std::string client = absl::StrCat(
      "# Hark API keys, created ", now,
      ". Secret: keep this file private (mode 0600).\n"
      "# Format: name role key. Send a key as gRPC metadata\n"
      "# 'authorization: Bearer <key>'. The hark CLI reads this file.\n");
  std::string server = absl::StrCat(
      "# Hark server key file, created ", now,
      ". Holds only SHA-256 hashes;\n"
      "# the keys themselves were written to ",
      files.client_path,
      ".\n"
      "# Format: name role sha256-hex. To revoke a key, delete its line and\n"
      "# restart harkd.\n");
  std::vector<Entry> entries;
  for (Role role : kAllRoles) {
    ASSIGN_OR_RETURN(std::string key, GenerateKey(role));
    std::array<unsigned char, kSha256Size> digest = Sha256(key);
    std::string raw(reinterpret_cast<const char*>(digest.data()),
                    digest.size());
    std::string name(RoleName(role));
    absl::StrAppend(&client, name, " ", name, " ", key, "\n");
    absl::StrAppend(&server, name, " ", name, " ", absl::BytesToHexString(raw),
                    "\n");
    OPENSSL_cleanse(key.data(), key.size());
    entries.push_back(Entry{name, role, std::move(raw)});
  }
  // The client file first: if the process dies in between, the server file
  // is still missing and the next start creates a fresh pair, rather than
  // leaving hashes whose keys nobody has.
  absl::Status status = WritePrivateFile(files.client_path, client);
  OPENSSL_cleanse(client.data(), client.size());
  RETURN_IF_ERROR(status);
  RETURN_IF_ERROR(WritePrivateFile(files.server_path, server));
  if (created != nullptr) *created = true;
  return std::unique_ptr<KeyRing>(new KeyRing(std::move(entries)));
}

absl::StatusOr<Principal> KeyRing::Authorize(absl::string_view authorization,
                                             absl::string_view method) const {
  static constexpr absl::string_view kHowTo =
      "send gRPC metadata 'authorization: Bearer <key>' with a key from the "
      "client key file harkd wrote on first start";
  absl::string_view value = absl::StripAsciiWhitespace(authorization);
  if (value.empty()) {
    return absl::UnauthenticatedError(
        absl::StrCat("missing API key; ", kHowTo));
  }
  constexpr absl::string_view kScheme = "bearer";
  if (value.size() <= kScheme.size() ||
      !absl::EqualsIgnoreCase(value.substr(0, kScheme.size()), kScheme) ||
      !absl::ascii_isspace(value[kScheme.size()])) {
    return absl::UnauthenticatedError(absl::StrCat(
        "malformed authorization metadata: expected 'Bearer <key>'; ", kHowTo));
  }
  absl::string_view key =
      absl::StripLeadingAsciiWhitespace(value.substr(kScheme.size()));
  if (key.empty() || key.size() > kMaxKeyLength ||
      std::any_of(key.begin(), key.end(),
                  [](char c) { return absl::ascii_isspace(c); })) {
    return absl::UnauthenticatedError(absl::StrCat(
        "malformed API key: expected one token after 'Bearer'; ", kHowTo));
  }

  // Compare against every entry and pick the match without branching on the
  // comparison, so the time taken says nothing about which entry (if any)
  // matched.
  std::array<unsigned char, kSha256Size> digest = Sha256(key);
  size_t match = entries_.size();
  for (size_t i = 0; i < entries_.size(); ++i) {
    const size_t equal = static_cast<size_t>(
        CRYPTO_memcmp(digest.data(), entries_[i].sha256.data(), kSha256Size) ==
        0);
    const size_t mask = ~(equal - 1);  // all ones when equal
    match = (i & mask) | (match & ~mask);
  }
  if (match == entries_.size()) {
    return absl::UnauthenticatedError(
        absl::StrCat("unknown API key; ", kHowTo));
  }
  const Entry& entry = entries_[match];

  absl::StatusOr<std::vector<Role>> allowed = RolesForMethod(method);
  if (!allowed.ok()) {
    return absl::PermissionDeniedError(
        absl::StrCat(allowed.status().message(), "; no role may call it"));
  }
  if (std::find(allowed->begin(), allowed->end(), entry.role) ==
      allowed->end()) {
    return absl::PermissionDeniedError(
        absl::StrCat("key '", entry.name, "' has role ", RoleName(entry.role),
                     ", which may not call ", method,
                     "; roles allowed: ", RoleList(*allowed)));
  }
  return Principal{entry.name, entry.role};
}

}  // namespace hark::auth
