#include "server/auth/auth.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "hark/v1/admin.pb.h"
#include "hark/v1/ingest.pb.h"
#include "hark/v1/prompts.pb.h"
#include "hark/v1/review.pb.h"
#include "hark/v1/rules.pb.h"

namespace hark::auth {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

// A fresh directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::path(::testing::TempDir()) / "hark_auth_XXXXXX")
            .string();
    char* dir = mkdtemp(pattern.data());
    EXPECT_NE(dir, nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string Path(absl::string_view name) const {
    return (std::filesystem::path(path_) / std::string(name)).string();
  }

 private:
  std::string path_;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, absl::string_view contents) {
  std::ofstream out(path);
  out << contents;
}

// name -> key, from a client key file.
std::map<std::string, std::string> ClientKeys(const std::string& path) {
  std::map<std::string, std::string> keys;
  for (absl::string_view line : absl::StrSplit(ReadFile(path), '\n')) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> fields = absl::StrSplit(line, ' ');
    EXPECT_EQ(fields.size(), 3u) << line;
    if (fields.size() == 3) keys[fields[0]] = fields[2];
  }
  return keys;
}

mode_t FileMode(const std::string& path) {
  struct stat st;
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

std::string Bearer(absl::string_view key) {
  return absl::StrCat("Bearer ", key);
}

TEST(RoleTest, NamesRoundTrip) {
  for (Role role :
       {Role::kIngest, Role::kResearch, Role::kReview, Role::kAdmin}) {
    absl::StatusOr<Role> parsed = ParseRole(RoleName(role));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, role);
  }
  EXPECT_EQ(ParseRole("Admin").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseRole("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RolesForMethodTest, MapsServicesToRoles) {
  EXPECT_THAT(*RolesForMethod("/hark.v1.Ingest/TrackEvents"),
              UnorderedElementsAre(Role::kIngest, Role::kAdmin));
  EXPECT_THAT(*RolesForMethod("/hark.v1.Prompts/SubmitResponse"),
              UnorderedElementsAre(Role::kIngest, Role::kAdmin));
  EXPECT_THAT(*RolesForMethod("/hark.v1.Rules/ApplyRules"),
              UnorderedElementsAre(Role::kResearch, Role::kAdmin));
  for (const char* method :
       {"/hark.v1.Review/ListResponses", "/hark.v1.Review/GetResponse",
        "/hark.v1.Review/GetReport", "/hark.v1.Review/ExportResponses"}) {
    EXPECT_THAT(
        *RolesForMethod(method),
        UnorderedElementsAre(Role::kResearch, Role::kReview, Role::kAdmin))
        << method;
  }
  EXPECT_THAT(*RolesForMethod("/hark.v1.Review/TagResponse"),
              UnorderedElementsAre(Role::kReview, Role::kAdmin));
  EXPECT_THAT(*RolesForMethod("/hark.v1.Admin/GetStats"),
              UnorderedElementsAre(Role::kAdmin));
}

TEST(RolesForMethodTest, UnknownMethodsAreNotFound) {
  for (const char* method :
       {"/hark.v1.Ingest/Nope", "/hark.v1.Nope/TrackEvents",
        "/grpc.health.v1.Health/Check", "", "hark.v1.Ingest/TrackEvents",
        "/hark.v1.ingest/TrackEvents"}) {
    EXPECT_EQ(RolesForMethod(method).status().code(),
              absl::StatusCode::kNotFound)
        << method;
  }
}

// Every RPC declared in the protos is in the table, and admin may call it.
TEST(RolesForMethodTest, CoversEveryMethodInTheProtos) {
  // Touch one message per file so the generated descriptors are linked in.
  hark::v1::TrackEventsRequest ingest;
  hark::v1::GetStatsRequest admin;
  hark::v1::GetPromptsRequest prompts;
  hark::v1::ListResponsesRequest review;
  hark::v1::GetRulesRequest rules;
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  int methods = 0;
  for (const char* file :
       {"hark/v1/ingest.proto", "hark/v1/prompts.proto", "hark/v1/rules.proto",
        "hark/v1/review.proto", "hark/v1/admin.proto"}) {
    const google::protobuf::FileDescriptor* fd = pool->FindFileByName(file);
    ASSERT_NE(fd, nullptr) << file;
    for (int s = 0; s < fd->service_count(); ++s) {
      const google::protobuf::ServiceDescriptor* service = fd->service(s);
      for (int m = 0; m < service->method_count(); ++m) {
        std::string name = absl::StrCat("/", service->full_name(), "/",
                                        service->method(m)->name());
        absl::StatusOr<std::vector<Role>> roles = RolesForMethod(name);
        ASSERT_TRUE(roles.ok()) << name << ": " << roles.status();
        EXPECT_THAT(*roles, ::testing::Contains(Role::kAdmin)) << name;
        ++methods;
      }
    }
  }
  EXPECT_GT(methods, 20);
}

TEST(GenerateKeyTest, FormatAndUniqueness) {
  absl::StatusOr<std::string> a = GenerateKey(Role::kReview);
  absl::StatusOr<std::string> b = GenerateKey(Role::kReview);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  EXPECT_NE(*a, *b);
  ASSERT_TRUE(absl::StartsWith(*a, "hark_review_"));
  absl::string_view secret = absl::StripPrefix(*a, "hark_review_");
  EXPECT_EQ(secret.size(), 43u);
  for (char c : secret) {
    EXPECT_TRUE(absl::ascii_isalnum(c) || c == '-' || c == '_') << *a;
  }
}

TEST(HashKeyHexTest, KnownVector) {
  EXPECT_EQ(HashKeyHex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(KeyRingTest, CreateThenLoadRoundTrip) {
  TempDir dir;
  KeyFiles files{dir.Path("data/keys"), dir.Path("data/hark-cli.keys")};
  bool created = false;
  auto ring = KeyRing::LoadOrCreate(files, &created);
  ASSERT_TRUE(ring.ok()) << ring.status();
  EXPECT_TRUE(created);
  EXPECT_EQ((*ring)->size(), 4u);

  std::map<std::string, std::string> keys = ClientKeys(files.client_path);
  ASSERT_EQ(keys.size(), 4u);
  EXPECT_TRUE(absl::StartsWith(keys["ingest"], "hark_ingest_"));
  EXPECT_TRUE(absl::StartsWith(keys["research"], "hark_research_"));
  EXPECT_TRUE(absl::StartsWith(keys["review"], "hark_review_"));
  EXPECT_TRUE(absl::StartsWith(keys["admin"], "hark_admin_"));

  // A second start loads the same keys and creates nothing.
  created = true;
  auto again = KeyRing::LoadOrCreate(files, &created);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(created);
  EXPECT_EQ(ClientKeys(files.client_path), keys);

  for (const auto* r : {&*ring, &*again}) {
    auto principal =
        (*r)->Authorize(Bearer(keys["ingest"]), "/hark.v1.Ingest/TrackEvents");
    ASSERT_TRUE(principal.ok()) << principal.status();
    EXPECT_EQ(principal->key_name, "ingest");
    EXPECT_EQ(principal->role, Role::kIngest);
  }
}

TEST(KeyRingTest, FilesAreOwnerOnly) {
  TempDir dir;
  // Even a permissive umask must not make the files readable by others.
  mode_t old = umask(0);
  KeyFiles files{dir.Path("keys"), dir.Path("cli/hark-cli.keys")};
  auto ring = KeyRing::LoadOrCreate(files, nullptr);
  umask(old);
  ASSERT_TRUE(ring.ok()) << ring.status();
  EXPECT_EQ(FileMode(files.server_path), 0600u);
  EXPECT_EQ(FileMode(files.client_path), 0600u);
  // No temporary files are left behind.
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.Path("cli"))) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 1);
}

TEST(KeyRingTest, ServerFileHoldsOnlyHashes) {
  TempDir dir;
  KeyFiles files{dir.Path("keys"), dir.Path("hark-cli.keys")};
  ASSERT_TRUE(KeyRing::LoadOrCreate(files, nullptr).ok());
  std::string server = ReadFile(files.server_path);
  for (const auto& [name, key] : ClientKeys(files.client_path)) {
    EXPECT_FALSE(absl::StrContains(server, key)) << name;
    // Nor the random part alone: the text after "hark_<role>_" (base64url,
    // which may itself contain '_', so not "after the last '_'").
    const std::string prefix = absl::StrCat("hark_", name, "_");
    ASSERT_TRUE(absl::StartsWith(key, prefix)) << key;
    EXPECT_FALSE(absl::StrContains(server, key.substr(prefix.size())));
    EXPECT_TRUE(absl::StrContains(
        server, absl::StrCat(name, " ", name, " ", HashKeyHex(key))))
        << server;
  }
}

TEST(KeyRingTest, RejectsSamePathForBothFiles) {
  TempDir dir;
  KeyFiles files{dir.Path("keys"), dir.Path("keys")};
  EXPECT_EQ(KeyRing::LoadOrCreate(files, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(KeyRingTest, LoadMissingFileIsNotFound) {
  TempDir dir;
  auto ring = KeyRing::Load(dir.Path("nope"));
  EXPECT_EQ(ring.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(ring.status().message()), HasSubstr("nope"));
}

TEST(KeyRingTest, LoadReportsFileAndLine) {
  TempDir dir;
  std::string path = dir.Path("keys");
  WriteFile(path, absl::StrCat("# comment\n\nadmin admin ", HashKeyHex("k1"),
                               "\nbroken line\n"));
  auto ring = KeyRing::Load(path);
  ASSERT_FALSE(ring.ok());
  EXPECT_EQ(ring.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(ring.status().message()),
              HasSubstr(absl::StrCat(path, ":4:")));
}

struct ParseCase {
  std::string contents;
  std::string expected;  // substring of the error
};

TEST(KeyRingTest, ParseErrorsNameTheLine) {
  const std::string h1 = HashKeyHex("k1");
  const std::string h2 = HashKeyHex("k2");
  std::vector<ParseCase> cases = {
      {"a admin\n", "keys:1: expected 'name role sha256-hex', got 2 fields"},
      {absl::StrCat("a admin ", h1, " extra\n"), "keys:1: expected"},
      {absl::StrCat("# c\na boss ", h1, "\n"), "keys:2: unknown role 'boss'"},
      {"a admin hark_admin_plaintextkeyhere\n", "keys:1: the third field"},
      {absl::StrCat("a admin ", h1.substr(1), "\n"), "keys:1: the third"},
      {absl::StrCat("a admin ", h1.substr(1), "g\n"), "keys:1: the third"},
      {absl::StrCat("a/b admin ", h1, "\n"), "keys:1: invalid key name"},
      {absl::StrCat("a admin ", h1, "\na ingest ", h2, "\n"),
       "keys:2: duplicate key name 'a'"},
      {absl::StrCat("a admin ", h1, "\nb ingest ", h1, "\n"),
       "keys:2: the same key hash"},
      {"# only comments\n\n", "keys: no keys"},
  };
  for (const ParseCase& c : cases) {
    auto ring = KeyRing::Parse(c.contents, "keys");
    ASSERT_FALSE(ring.ok()) << c.contents;
    EXPECT_EQ(ring.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(ring.status().message()), HasSubstr(c.expected))
        << c.contents;
  }
}

TEST(KeyRingTest, ParseAcceptsTabsUppercaseHexAndCrlf) {
  std::string upper = HashKeyHex("k1");
  for (char& c : upper) c = absl::ascii_toupper(c);
  auto ring = KeyRing::Parse(absl::StrCat("  a\tingest\t", upper, "\r\n"), "k");
  ASSERT_TRUE(ring.ok()) << ring.status();
  EXPECT_TRUE(
      (*ring)->Authorize("Bearer k1", "/hark.v1.Ingest/TrackEvents").ok());
}

class AuthorizeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string contents = "# test keys\n";
    for (const char* role : {"ingest", "research", "review", "admin"}) {
      std::string key = absl::StrCat("hark_", role, "_secret");
      keys_[role] = key;
      absl::StrAppend(&contents, role, "-key ", role, " ", HashKeyHex(key),
                      "\n");
    }
    auto ring = KeyRing::Parse(contents, "test");
    ASSERT_TRUE(ring.ok()) << ring.status();
    ring_ = *std::move(ring);
  }

  absl::StatusCode Code(absl::string_view role, absl::string_view method) {
    return ring_->Authorize(Bearer(keys_[std::string(role)]), method)
        .status()
        .code();
  }

  std::map<std::string, std::string> keys_;
  std::unique_ptr<KeyRing> ring_;
};

TEST_F(AuthorizeTest, AcceptsBearerCaseInsensitively) {
  for (std::string prefix : {"Bearer ", "bearer ", "BEARER\t", "  Bearer   "}) {
    auto p = ring_->Authorize(prefix + keys_["review"] + " ",
                              "/hark.v1.Review/TagResponse");
    ASSERT_TRUE(p.ok()) << prefix << ": " << p.status();
    EXPECT_EQ(p->key_name, "review-key");
    EXPECT_EQ(p->role, Role::kReview);
  }
}

TEST_F(AuthorizeTest, MissingMalformedOrUnknownKeysAreUnauthenticated) {
  const char* method = "/hark.v1.Ingest/TrackEvents";
  for (const std::string& value :
       {std::string(""), std::string("   "), std::string("Bearer"),
        std::string("Bearer "), std::string("Basic dXNlcjpwYXNz"),
        keys_["ingest"], absl::StrCat("Bearer ", keys_["ingest"], " extra"),
        absl::StrCat("Bearer", keys_["ingest"]),
        absl::StrCat("Bearer ", keys_["ingest"], "x"),
        std::string("Bearer hark_ingest_unknown"),
        absl::StrCat("Bearer ", std::string(10000, 'a'))}) {
    auto p = ring_->Authorize(value, method);
    ASSERT_FALSE(p.ok()) << value;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kUnauthenticated) << value;
    // The message tells the caller what to send.
    EXPECT_THAT(std::string(p.status().message()),
                HasSubstr("authorization: Bearer <key>"))
        << value;
  }
}

TEST_F(AuthorizeTest, WrongRoleIsPermissionDeniedAndNamesRoles) {
  auto p = ring_->Authorize(Bearer(keys_["ingest"]), "/hark.v1.Admin/GetStats");
  ASSERT_EQ(p.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(p.status().message()),
              HasSubstr("key 'ingest-key' has role ingest"));
  EXPECT_THAT(std::string(p.status().message()),
              HasSubstr("roles allowed: admin"));

  auto r = ring_->Authorize(Bearer(keys_["research"]),
                            "/hark.v1.Review/TagResponse");
  ASSERT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("roles allowed: review, admin"));
}

TEST_F(AuthorizeTest, RoleMatrix) {
  using C = absl::StatusCode;
  const C ok = C::kOk;
  const C no = C::kPermissionDenied;
  struct Row {
    const char* method;
    C ingest, research, review, admin;
  };
  const Row rows[] = {
      {"/hark.v1.Ingest/TrackEvents", ok, no, no, ok},
      {"/hark.v1.Ingest/IdentifyUser", ok, no, no, ok},
      {"/hark.v1.Prompts/GetPrompts", ok, no, no, ok},
      {"/hark.v1.Rules/ApplyRules", no, ok, no, ok},
      {"/hark.v1.Rules/Backtest", no, ok, no, ok},
      {"/hark.v1.Review/ListResponses", no, ok, ok, ok},
      {"/hark.v1.Review/GetResponse", no, ok, ok, ok},
      {"/hark.v1.Review/GetReport", no, ok, ok, ok},
      {"/hark.v1.Review/ExportResponses", no, ok, ok, ok},
      {"/hark.v1.Review/TagResponse", no, no, ok, ok},
      {"/hark.v1.Admin/Explain", no, ok, ok, ok},
      {"/hark.v1.Admin/DeleteUser", no, no, no, ok},
      {"/hark.v1.Admin/GetStats", no, no, no, ok},
  };
  for (const Row& row : rows) {
    EXPECT_EQ(Code("ingest", row.method), row.ingest) << row.method;
    EXPECT_EQ(Code("research", row.method), row.research) << row.method;
    EXPECT_EQ(Code("review", row.method), row.review) << row.method;
    EXPECT_EQ(Code("admin", row.method), row.admin) << row.method;
  }
}

TEST_F(AuthorizeTest, UnknownMethodIsDeniedEvenForAdmin) {
  EXPECT_EQ(Code("admin", "/hark.v1.Admin/Shutdown"),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(AuthorizeTest, AuthenticationComesBeforeMethodLookup) {
  // An unknown key learns nothing about which methods exist.
  EXPECT_EQ(ring_->Authorize("Bearer nope", "/hark.v1.Admin/Shutdown")
                .status()
                .code(),
            absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace hark::auth
