// hark: the command-line client of harkd.
//
// Exit codes: 0 success, 1 failure (transport, server, input), 2 usage error.

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "clients/hark/event_sender.h"
#include "clients/hark/format.h"
#include "clients/hark/key_file.h"
#include "clients/hark/values.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "hark/v1/admin.grpc.pb.h"
#include "hark/v1/ingest.grpc.pb.h"

#ifndef HARK_CLI_VERSION
#define HARK_CLI_VERSION "dev"
#endif

namespace hark::cli {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

constexpr char kDefaultServer[] = "127.0.0.1:50051";
constexpr char kDefaultKeysFile[] = "./data/hark-cli.keys";

constexpr char kMainHelp[] = R"(hark - send events to harkd and inspect it

Usage: hark [global options] <command> [arguments]

Commands:
  events send FILE.jsonl   Send behaviour events from a JSON Lines file.
  users identify USER k=v  Set typed traits of a user.
  stats                    Show counters of the running harkd.
  help [COMMAND]           Show help for a command.

Global options:
  --server HOST:PORT   harkd's address. Env HARK_SERVER; default 127.0.0.1:50051.
  --key KEY            API key to send. Env HARK_API_KEY. Without one, hark
                       picks a key of a suitable role from the keys file.
  --keys-file PATH     Client key file ("name role key" per line) that harkd
                       writes on its first start. Env HARK_KEYS_FILE;
                       default ./data/hark-cli.keys.
  -h, --help           Show help (also after a command: hark stats --help).
  --version            Print hark's version.

Keys: 'events send' and 'users identify' use a key with role ingest (else
admin); 'stats' needs admin.

Exit status: 0 success, 1 failure, 2 usage error.

Examples:
  hark events send examples/events.jsonl
  hark users identify u-42 plan=pro seats=5 trial=false zip:s=01234
  HARK_SERVER=hark.internal:50051 hark stats
)";

constexpr char kEventsSendHelp[] =
    R"(Usage: hark events send FILE.jsonl [--batch N]

Sends the events of FILE (or '-' for standard input) to harkd with
Ingest.TrackEvents, N events per call (default 500, at most 1000).

Each line is one JSON object; blank lines and lines starting with '#' are
skipped:
  {"event_id": "e-1", "user_id": "u-1", "name": "plan_changed",
   "timestamp": "2026-11-01T09:30:00Z",
   "properties": {"direction": "upgrade", "seats": 5, "annual": true,
                  "renews_at": {"$timestamp": "2027-11-01T00:00:00Z"}},
   "context": {"session_id": "s-1", "platform": "web", "app_version": "4.2"}}
Property values are strings, numbers, true/false or {"$timestamp": RFC3339}.
A line with anything else (null, an array, another object, an unknown key)
is rejected here, with its line number, and not sent. harkd checks the rest
(names match [a-z0-9_.:-]{1,64}, a timestamp is required and at most 5
minutes in its future, ...) and rejects bad events one by one; the others
are stored.

Resending is safe: event ids make it idempotent, so already-stored events
come back as duplicates. When harkd's queue is full (RESOURCE_EXHAUSTED) a
batch is retried with growing pauses; when harkd is unreachable, a few times.

Output: a progress bar on stderr when it is a terminal, then
  accepted N, duplicates N, rejected N
and one line per rejected event:
  line 12: event e-17: timestamp: <reason>

Exit status: 0 when harkd answered every batch, even if it rejected some
events (they are listed); 1 when a batch could not be sent (transport or
server failure) or FILE cannot be read - the batches before it were
stored, so fix the cause and run the same command again; 2 usage error.

Examples:
  hark events send examples/events.jsonl
  hark events send --batch 1000 big.jsonl
  my-exporter | hark events send -
)";

constexpr char kUsersIdentifyHelp[] =
    R"(Usage: hark users identify USER KEY=VALUE [KEY=VALUE...]

Sets traits of USER with Ingest.IdentifyUser; traits not named are kept.
A value is read as:
  true / false               bool
  a number (JSON syntax)     number (integers beyond 2^53 stay strings)
  an RFC 3339 time           timestamp, e.g. 2026-12-01T00:00:00Z
  anything else              string
Force a type with a suffix on the key: KEY:s=VALUE string, KEY:n= number,
KEY:b= bool, KEY:t= timestamp. Prints what was set.

Examples:
  hark users identify u-42 plan=pro seats=5 trial=false
  hark users identify u-42 zip:s=01234 trial_ends_at=2026-12-01T00:00:00Z
)";

constexpr char kStatsHelp[] = R"(Usage: hark stats

Shows counters of the running harkd (Admin.GetStats, needs an admin key):
events stored, users, accepted/duplicates/rejected since start, write queue
depth and capacity, dedup window, uptime, database path and version.

Example:
  hark --server 127.0.0.1:50051 stats
)";

struct Args {
  std::string server;
  std::string key;
  std::string keys_file;
  std::optional<int> batch;
  bool help = false;
  bool version = false;
  std::vector<std::string> positional;
};

// A usage error: the message and the help text to point at.
struct UsageError {
  std::string message;
  std::string help_command;  // e.g. "events send"; empty for the tool
};

std::string EnvOr(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

std::optional<UsageError> ParseArgs(int argc, char** argv, Args* args) {
  bool options_done = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (options_done || arg.size() < 2 || arg[0] != '-' || arg == "-") {
      args->positional.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    if (arg == "-h" || arg == "--help") {
      args->help = true;
      continue;
    }
    if (arg == "--version") {
      args->version = true;
      continue;
    }
    if (!absl::StartsWith(arg, "--")) {
      return UsageError{absl::StrCat("unknown option ", arg), ""};
    }
    std::string name = arg.substr(2);
    std::optional<std::string> value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (name != "server" && name != "key" && name != "keys-file" &&
        name != "batch") {
      return UsageError{absl::StrCat("unknown option --", name), ""};
    }
    if (!value.has_value()) {
      if (i + 1 >= argc) {
        return UsageError{absl::StrCat("--", name, " needs a value"), ""};
      }
      value = argv[++i];
    }
    if (name == "server") {
      args->server = *value;
    } else if (name == "key") {
      args->key = *value;
    } else if (name == "keys-file") {
      args->keys_file = *value;
    } else {
      int n = 0;
      if (!absl::SimpleAtoi(*value, &n) || n < 1 || n > 1000) {
        return UsageError{
            absl::StrCat("--batch must be a number from 1 to 1000, got '",
                         *value, "'"),
            "events send"};
      }
      args->batch = n;
    }
  }
  if (args->server.empty()) args->server = EnvOr("HARK_SERVER", kDefaultServer);
  if (args->keys_file.empty()) {
    args->keys_file = EnvOr("HARK_KEYS_FILE", kDefaultKeysFile);
  }
  return std::nullopt;
}

int Usage(const UsageError& error) {
  std::cerr << "hark: " << error.message << "\n"
            << "Run 'hark " << error.help_command
            << (error.help_command.empty() ? "" : " ")
            << "--help' for usage.\n";
  return kExitUsage;
}

// The API key to send and where it came from (for hints).
struct KeyChoice {
  std::string key;
  std::string source;
};

// --key, then HARK_API_KEY, then the first key in the keys file whose role is
// in `roles` (in that order of preference).
absl::StatusOr<KeyChoice> ResolveKey(
    const Args& args, std::initializer_list<absl::string_view> roles) {
  if (!args.key.empty()) return KeyChoice{args.key, "--key"};
  if (const char* env = std::getenv("HARK_API_KEY");
      env != nullptr && *env != '\0') {
    return KeyChoice{env, "HARK_API_KEY"};
  }
  absl::StatusOr<std::vector<ClientKey>> keys =
      ReadClientKeyFile(args.keys_file);
  if (!keys.ok()) {
    return absl::Status(
        keys.status().code(),
        absl::StrCat("no API key: ", keys.status().message(),
                     "\n  hint: pass --key KEY or set HARK_API_KEY, or point "
                     "--keys-file (HARK_KEYS_FILE) at the hark-cli.keys file "
                     "harkd writes on its first start (beside its --keys "
                     "file, data/ by default)"));
  }
  struct stat st;
  if (stat(args.keys_file.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    std::cerr << "hark: warning: " << args.keys_file
              << " is readable by other users; run chmod 600 on it\n";
  }
  absl::StatusOr<ClientKey> key = SelectKey(*keys, roles, args.keys_file);
  if (!key.ok()) return key.status();
  return KeyChoice{key->key,
                   absl::StrCat("key '", key->name, "' (role ", key->role,
                                ") from ", args.keys_file)};
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& server) {
  grpc::ChannelArguments channel_args;
  channel_args.SetUserAgentPrefix(absl::StrCat("hark-cli/", HARK_CLI_VERSION));
  return grpc::CreateCustomChannel(server, grpc::InsecureChannelCredentials(),
                                   channel_args);
}

// "hark: <what>: <message> (<CODE>)" and a hint where one is obvious.
void PrintRpcError(absl::string_view what, const absl::Status& status,
                   const Args& args, const KeyChoice& key,
                   absl::string_view roles_needed) {
  std::string message(status.message());
  // gRPC's connection failure reads "failed to connect to all addresses;
  // last error: UNKNOWN: ipv4:127.0.0.1:50051: Failed to connect to remote
  // host: Connection refused"; the last part is what matters.
  if (status.code() == absl::StatusCode::kUnavailable &&
      absl::StartsWith(message, "failed to connect to all addresses")) {
    const size_t colon = message.rfind(": ");
    message = absl::StrCat("cannot connect to ", args.server,
                           colon == std::string::npos
                               ? std::string()
                               : absl::StrCat(": ", message.substr(colon + 2)));
  }
  std::cerr << "hark: " << what << ": " << message << " ("
            << absl::StatusCodeToString(status.code()) << ")\n";
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
      std::cerr << "  hint: is harkd running at " << args.server
                << "? (set --server or HARK_SERVER)\n";
      break;
    case absl::StatusCode::kUnauthenticated:
      std::cerr << "  hint: harkd did not accept the " << key.source
                << "; keys come from the hark-cli.keys file harkd writes on "
                   "its first start (--keys-file, HARK_KEYS_FILE, --key, "
                   "HARK_API_KEY)\n";
      break;
    case absl::StatusCode::kPermissionDenied:
      std::cerr << "  hint: this command needs a key with role " << roles_needed
                << "; used " << key.source << "\n";
      break;
    case absl::StatusCode::kDeadlineExceeded:
      std::cerr << "  hint: harkd at " << args.server
                << " did not answer in time; it may be overloaded\n";
      break;
    case absl::StatusCode::kUnimplemented:
      std::cerr << "  hint: the harkd at " << args.server
                << " does not offer this call yet; check its version with "
                   "'hark stats'\n";
      break;
    default:
      break;
  }
}

void PrintKeyError(const absl::Status& status) {
  std::cerr << "hark: " << status.message() << "\n";
}

absl::Status FromGrpc(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

void PrepareContext(grpc::ClientContext* context, const KeyChoice& key) {
  context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  context->AddMetadata("authorization", absl::StrCat("Bearer ", key.key));
}

int EventsSend(const Args& args) {
  if (args.positional.size() != 3) {
    return Usage({args.positional.size() < 3
                      ? "events send needs a FILE ('-' for standard input)"
                      : "events send takes one FILE",
                  "events send"});
  }
  const std::string& path = args.positional[2];
  std::ifstream file;
  std::istream* in = &std::cin;
  uint64_t total_bytes = 0;
  if (path != "-") {
    file.open(path, std::ios::binary);
    if (!file) {
      std::cerr << "hark: cannot read " << path << ": " << std::strerror(errno)
                << "\n";
      return kExitFailure;
    }
    struct stat st;
    if (stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      total_bytes = static_cast<uint64_t>(st.st_size);
    }
    in = &file;
  }
  absl::StatusOr<KeyChoice> key = ResolveKey(args, {"ingest", "admin"});
  if (!key.ok()) {
    PrintKeyError(key.status());
    return kExitFailure;
  }

  auto stub = hark::v1::Ingest::NewStub(MakeChannel(args.server));
  SendOptions options;
  options.batch_size = args.batch.value_or(500);
  options.authorization = absl::StrCat("Bearer ", key->key);

  const bool show_progress = isatty(STDERR_FILENO) == 1;
  bool progress_shown = false;
  ProgressFn progress = [&](const SendReport& r) {
    if (!show_progress) return;
    const uint64_t sent = r.accepted + r.duplicates + r.rejected;
    std::string line =
        total_bytes > 0
            ? ProgressBar(static_cast<double>(r.bytes_read) / total_bytes, 30)
            : std::string();
    absl::StrAppend(&line, line.empty() ? "" : "  ", WithThousands(sent),
                    " events");
    std::cerr << "\r" << line << std::flush;
    progress_shown = true;
  };
  SendReport report = SendEvents(*in, *stub, options, progress);
  if (progress_shown) std::cerr << "\r\033[K" << std::flush;

  // After a failure before any answer there is nothing to summarise
  // unless lines were rejected locally.
  if (report.failure.ok() || report.batches > 0 || !report.rejections.empty()) {
    std::cout << "accepted " << report.accepted << ", duplicates "
              << report.duplicates << ", rejected " << report.rejected << "\n";
    for (const RejectedLine& r : report.rejections) {
      std::cout << FormatRejection(r) << "\n";
    }
    std::cout << std::flush;
  }
  if (!report.failure.ok()) {
    std::string what =
        report.failed_first_line > 0
            ? absl::StrCat("sending lines ", report.failed_first_line, "-",
                           report.failed_last_line, " of ", path, " failed")
            : absl::StrCat("reading ", path, " failed");
    PrintRpcError(what, report.failure, args, *key, "ingest or admin");
    const absl::StatusCode code = report.failure.code();
    const bool transient = code == absl::StatusCode::kUnavailable ||
                           code == absl::StatusCode::kDeadlineExceeded ||
                           code == absl::StatusCode::kResourceExhausted;
    if (report.failed_first_line > 0 && (report.batches > 0 || transient)) {
      std::cerr << "  note: lines from " << report.failed_first_line
                << " on may not have been stored"
                << (report.batches > 0
                        ? "; the lines before were answered above"
                        : "")
                << ". Running the same command again is safe: stored events "
                   "come back as duplicates.\n";
    }
    return kExitFailure;
  }
  return kExitOk;
}

int UsersIdentify(const Args& args) {
  if (args.positional.size() < 4) {
    return Usage({args.positional.size() < 3
                      ? "users identify needs a USER and at least one KEY=VALUE"
                      : "users identify needs at least one KEY=VALUE",
                  "users identify"});
  }
  hark::v1::IdentifyUserRequest request;
  request.set_user_id(args.positional[2]);
  std::vector<std::string> order;
  for (size_t i = 3; i < args.positional.size(); ++i) {
    absl::StatusOr<std::pair<std::string, hark::v1::Value>> trait =
        ParseTraitArg(args.positional[i]);
    if (!trait.ok()) {
      return Usage({std::string(trait.status().message()), "users identify"});
    }
    if (request.traits().contains(trait->first)) {
      return Usage({absl::StrCat("trait '", trait->first, "' is given twice"),
                    "users identify"});
    }
    order.push_back(trait->first);
    (*request.mutable_traits())[trait->first] = std::move(trait->second);
  }
  absl::StatusOr<KeyChoice> key = ResolveKey(args, {"ingest", "admin"});
  if (!key.ok()) {
    PrintKeyError(key.status());
    return kExitFailure;
  }
  auto stub = hark::v1::Ingest::NewStub(MakeChannel(args.server));
  grpc::ClientContext context;
  PrepareContext(&context, *key);
  hark::v1::IdentifyUserResponse response;
  grpc::Status status = stub->IdentifyUser(&context, request, &response);
  if (!status.ok()) {
    PrintRpcError(absl::StrCat("identify ", request.user_id()),
                  FromGrpc(status), args, *key, "ingest or admin");
    return kExitFailure;
  }
  std::cout << "user " << request.user_id() << ": set " << response.traits_set()
            << (response.traits_set() == 1 ? " trait" : " traits");
  if (response.has_set_at()) {
    std::cout << " at " << FormatRfc3339(response.set_at());
  }
  std::cout << "\n";
  size_t name_width = 0;
  size_t value_width = 0;
  for (const std::string& name : order) {
    name_width = std::max(name_width, name.size());
    value_width =
        std::max(value_width, FormatValue(request.traits().at(name)).size());
  }
  for (const std::string& name : order) {
    const hark::v1::Value& value = request.traits().at(name);
    const std::string shown = FormatValue(value);
    std::cout << "  " << name << std::string(name_width - name.size(), ' ')
              << " = " << shown << std::string(value_width - shown.size(), ' ')
              << "  (" << ValueKindName(value) << ")\n";
  }
  return kExitOk;
}

int Stats(const Args& args) {
  if (args.positional.size() != 1) {
    return Usage({"stats takes no arguments", "stats"});
  }
  absl::StatusOr<KeyChoice> key = ResolveKey(args, {"admin"});
  if (!key.ok()) {
    PrintKeyError(key.status());
    return kExitFailure;
  }
  auto stub = hark::v1::Admin::NewStub(MakeChannel(args.server));
  grpc::ClientContext context;
  PrepareContext(&context, *key);
  hark::v1::GetStatsResponse response;
  grpc::Status status =
      stub->GetStats(&context, hark::v1::GetStatsRequest(), &response);
  if (!status.ok()) {
    PrintRpcError("stats", FromGrpc(status), args, *key, "admin");
    return kExitFailure;
  }
  std::cout << FormatStats(response, args.server);
  return kExitOk;
}

// The help text for a command given as words ("events", "send"); nullptr
// for an unknown command.
const char* HelpFor(const std::vector<std::string>& words) {
  const std::string command = absl::StrJoin(words, " ");
  if (command.empty()) return kMainHelp;
  if (command == "events send" || command == "events") return kEventsSendHelp;
  if (command == "users identify" || command == "users") {
    return kUsersIdentifyHelp;
  }
  if (command == "stats") return kStatsHelp;
  return nullptr;
}

int Run(int argc, char** argv) {
  Args args;
  if (std::optional<UsageError> error = ParseArgs(argc, argv, &args)) {
    return Usage(*error);
  }
  if (args.version) {
    std::cout << "hark " << HARK_CLI_VERSION << "\n";
    return kExitOk;
  }
  const std::vector<std::string>& pos = args.positional;
  if (!pos.empty() && pos[0] == "help") {
    std::vector<std::string> words(pos.begin() + 1, pos.end());
    const char* help = HelpFor(words);
    if (help == nullptr) {
      return Usage(
          {absl::StrCat("no command '", absl::StrJoin(words, " "), "'"), ""});
    }
    std::cout << help;
    return kExitOk;
  }
  if (args.help) {
    // Help for the longest known command prefix of the words given.
    std::vector<std::string> words(
        pos.begin(), pos.begin() + std::min<size_t>(pos.size(), 2));
    while (!words.empty() && HelpFor(words) == nullptr) words.pop_back();
    std::cout << HelpFor(words);
    return kExitOk;
  }
  if (pos.empty()) {
    std::cerr << kMainHelp;
    return kExitUsage;
  }
  if (args.batch.has_value() &&
      !(pos.size() >= 2 && pos[0] == "events" && pos[1] == "send")) {
    return Usage({"--batch only applies to 'events send'", ""});
  }
  if (pos[0] == "events") {
    if (pos.size() >= 2 && pos[1] == "send") return EventsSend(args);
    return Usage({pos.size() < 2 ? "events needs a subcommand: send"
                                 : absl::StrCat("unknown command 'events ",
                                                pos[1], "'; try 'events send'"),
                  "events send"});
  }
  if (pos[0] == "users") {
    if (pos.size() >= 2 && pos[1] == "identify") return UsersIdentify(args);
    return Usage({pos.size() < 2
                      ? "users needs a subcommand: identify"
                      : absl::StrCat("unknown command 'users ", pos[1],
                                     "'; try 'users identify'"),
                  "users identify"});
  }
  if (pos[0] == "stats") return Stats(args);
  return Usage({absl::StrCat("unknown command '", pos[0], "'"), ""});
}

}  // namespace
}  // namespace hark::cli

int main(int argc, char** argv) { return hark::cli::Run(argc, argv); }
