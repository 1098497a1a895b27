// harkd: the Hark server. See `harkd --help`.

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/service/server.h"
#include "spdlog/pattern_formatter.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

#ifdef HARK_WITH_JEMALLOC
// jemalloc's options, read when it starts (MALLOC_CONF in the environment
// still overrides them). thp:always lets the kernel back the heap with
// transparent huge pages: the engine's per-user state (~100 MB for a
// million users) is read at random, one TLB miss per 4 KiB page otherwise
// (BENCHMARKS.md: +4-5% stream ingest with 100 rules, and shorter stalls).
// Without THP in the kernel it changes nothing.
extern "C" {
const char* malloc_conf = "thp:always";
}
#endif

namespace {

constexpr char kUsage[] = R"(harkd - the Hark server

Receives behaviour events from product backends over gRPC, stores them
durably and (with the rules in --rules) decides when to ask users why.

Usage: harkd [flags]

Flags:
  --listen=HOST:PORT      Address to serve gRPC on. Port 0 picks a free port
                          (see --port-file). Default: 127.0.0.1:50051
  --db=PATH               SQLite database file; created with its folder if
                          missing. Default: data/hark.db
  --rules=DIR             Folder of rule YAML files. Default: rules
  --keys=PATH             Server API key file (SHA-256 hashes only). Created on
                          first start with one key per role (ingest, research,
                          review, admin). Default: data/keys
  --client-keys=PATH      Where the created keys themselves are written for the
                          hark CLI (mode 0600). Default: beside --keys, named
                          hark-cli.keys
  --durability=normal|full
                          normal: a committed event survives a crash of harkd;
                          a power loss may lose the last commits (the file stays
                          consistent). full: also survives power loss (fsync per
                          commit, slower). Default: normal
  --max-future=DURATION   How far in the future an event timestamp may be
                          (e.g. 5m, 1h). Default: 5m
  --queue-events=N        Events waiting to be committed before TrackEvents
                          answers RESOURCE_EXHAUSTED and streams stop reading.
                          Default: 100000
  --dedup-window=N        How many recent event ids are remembered to answer
                          DUPLICATE (rebuilt from the log at start). A resend
                          of an event older than that is stored again.
                          Default: 4000000
  --allowed-lateness=DURATION
                          How late an event may arrive (after events with
                          later times, or after the clock) and still count
                          for count/sequence/absence rules. Absence rules fire
                          this long after their deadline. Default: 1m
  --log-level=LEVEL       trace, debug, info, warn, error. Default: info
  --log-format=text|json  Default: text
  --port-file=PATH        Write the bound port to PATH once serving.
  --ready-fd=N            Write the bound port and a newline to file
                          descriptor N once serving, then close it (for
                          supervisors and tests).
  --help                  Show this help.

Signals: SIGTERM or SIGINT stop taking calls, finish in-flight calls, commit
and exit 0. SIGHUP reloads the rules folder; an invalid set is refused (the
errors are logged) and the serving rules stay.
)";

struct Flags {
  hark::service::ServerOptions server;
  std::string client_keys;
  std::string log_level = "info";
  std::string log_format = "text";
  std::string port_file;
  int ready_fd = -1;
};

[[noreturn]] void UsageError(const std::string& message) {
  std::cerr << "harkd: " << message << "\nRun 'harkd --help' for usage.\n";
  std::exit(2);
}

bool ParseSize(const std::string& text, size_t* out) {
  uint64_t v;
  if (!absl::SimpleAtoi(text, &v) || v == 0) return false;
  *out = static_cast<size_t>(v);
  return true;
}

Flags ParseFlags(int argc, char** argv) {
  Flags flags;
  flags.server.store.path = "data/hark.db";
  flags.server.keys.server_path = "data/keys";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      std::exit(0);
    }
    if (!absl::StartsWith(arg, "--")) UsageError("unexpected argument " + arg);
    std::string name = arg.substr(2), value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      UsageError("flag --" + name + " needs a value");
    }
    if (name == "listen") {
      flags.server.listen = value;
    } else if (name == "db") {
      flags.server.store.path = value;
    } else if (name == "rules") {
      flags.server.rules_dir = value;
    } else if (name == "keys") {
      flags.server.keys.server_path = value;
    } else if (name == "client-keys") {
      flags.client_keys = value;
    } else if (name == "durability") {
      if (value == "normal") {
        flags.server.store.durability = hark::store::Durability::kNormal;
      } else if (value == "full") {
        flags.server.store.durability = hark::store::Durability::kFull;
      } else {
        UsageError("--durability must be 'normal' or 'full', not '" + value +
                   "'");
      }
    } else if (name == "max-future") {
      absl::Duration d;
      if (!absl::ParseDuration(value, &d) || d < absl::ZeroDuration()) {
        UsageError("--max-future must be a duration such as 5m or 1h, not '" +
                   value + "'");
      }
      flags.server.ingest.max_future = d;
    } else if (name == "allowed-lateness") {
      absl::Duration d;
      if (!absl::ParseDuration(value, &d) || d < absl::ZeroDuration()) {
        UsageError(
            "--allowed-lateness must be a duration such as 30s or 1m, not '" +
            value + "'");
      }
      flags.server.runner.engine.allowed_lateness = d;
    } else if (name == "queue-events") {
      if (!ParseSize(value, &flags.server.ingest.queue_capacity_events)) {
        UsageError("--queue-events must be a positive number");
      }
    } else if (name == "dedup-window") {
      if (!ParseSize(value, &flags.server.ingest.dedup_window)) {
        UsageError("--dedup-window must be a positive number");
      }
    } else if (name == "log-level") {
      flags.log_level = value;
    } else if (name == "log-format") {
      if (value != "text" && value != "json") {
        UsageError("--log-format must be 'text' or 'json'");
      }
      flags.log_format = value;
    } else if (name == "port-file") {
      flags.port_file = value;
    } else if (name == "ready-fd") {
      if (!absl::SimpleAtoi(value, &flags.ready_fd) || flags.ready_fd < 0) {
        UsageError("--ready-fd must be a file descriptor number");
      }
    } else {
      UsageError("unknown flag --" + name);
    }
  }
  if (flags.client_keys.empty()) {
    flags.client_keys =
        (std::filesystem::path(flags.server.keys.server_path).parent_path() /
         "hark-cli.keys")
            .string();
  }
  flags.server.keys.client_path = flags.client_keys;
  return flags;
}

// The log message as the body of a JSON string (%* in the json pattern):
// quotes, backslashes and control characters escaped.
class JsonEscapedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    for (char c : msg.payload) {
      if (c == '"' || c == '\\') {
        dest.push_back('\\');
        dest.push_back(c);
      } else if (static_cast<unsigned char>(c) < 0x20) {
        fmt::format_to(std::back_inserter(dest), "\\u{:04x}",
                       static_cast<int>(c));
      } else {
        dest.push_back(c);
      }
    }
  }
  std::unique_ptr<spdlog::custom_flag_formatter> clone() const override {
    return std::make_unique<JsonEscapedMessage>();
  }
};

void SetUpLogging(const Flags& flags) {
  auto logger = spdlog::stderr_color_mt("harkd");
  spdlog::set_default_logger(logger);
  auto level = spdlog::level::from_str(flags.log_level);
  if (level == spdlog::level::off && flags.log_level != "off") {
    UsageError("--log-level must be trace, debug, info, warn or error");
  }
  spdlog::set_level(level);
  if (flags.log_format == "json") {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(
        spdlog::pattern_time_type::utc);
    formatter->add_flag<JsonEscapedMessage>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","msg":"%*"})");
    spdlog::set_formatter(std::move(formatter));
  } else {
    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
  }
}

// Creates the parent folder of a file path.
void EnsureParent(const std::string& path) {
  auto parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(parent, ec);
  if (ec) {
    spdlog::error("cannot create folder {}: {}", parent.string(), ec.message());
    std::exit(1);
  }
}

void WritePortFile(const std::string& path, int port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    if (!out) {
      spdlog::error("cannot write port file {}", path);
      std::exit(1);
    }
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags = ParseFlags(argc, argv);
  SetUpLogging(flags);

  // Signals are taken by sigwait() below; block them before any thread
  // starts so that every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  if (flags.server.store.path != ":memory:") {
    EnsureParent(flags.server.store.path);
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(flags.server.rules_dir, ec)) {
    spdlog::warn("rules folder {} does not exist; serving without rules",
                 flags.server.rules_dir);
  }

  bool keys_created = false;
  auto server = hark::service::Server::Start(flags.server, &keys_created);
  if (!server.ok()) {
    spdlog::error("cannot start: {}", server.status().ToString());
    return 1;
  }
  if (keys_created) {
    spdlog::info(
        "created API keys (one per role): hashes in {}, the keys "
        "themselves for the hark CLI in {} (mode 0600)",
        flags.server.keys.server_path, flags.client_keys);
  } else {
    spdlog::info("API keys: {}", flags.server.keys.server_path);
  }
  const int port = (*server)->port();
  const auto rules = (*server)->runner().rules();
  spdlog::info("rules: {} loaded from {}", rules.rules->rules().size(),
               flags.server.rules_dir);
  spdlog::info("database {} (durability {})", flags.server.store.path,
               flags.server.store.durability == hark::store::Durability::kFull
                   ? "full"
                   : "normal");
  // With port 0 the bound port is only known now; show the real address.
  std::string address = flags.server.listen;
  if (absl::EndsWith(address, ":0")) {
    address = absl::StrCat(address.substr(0, address.size() - 1), port);
  }
  spdlog::info("listening on {}", address);
  if (!flags.port_file.empty()) WritePortFile(flags.port_file, port);
  if (flags.ready_fd >= 0) {
    const std::string line = absl::StrCat(port, "\n");
    if (write(flags.ready_fd, line.data(), line.size()) < 0) {
      spdlog::warn("cannot write to --ready-fd {}", flags.ready_fd);
    }
    close(flags.ready_fd);
  }

  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      auto report = (*server)->ReloadRulesFolder();
      if (!report.ok()) {
        spdlog::error("SIGHUP: reload refused, the serving rules stay: {}",
                      std::string(report.status().message()));
      } else {
        spdlog::info(
            "SIGHUP: rules reloaded from {}: {} kept, {} reset, {} "
            "dropped, {} added",
            flags.server.rules_dir, report->kept.size(), report->reset.size(),
            report->dropped.size(), report->added.size());
      }
      continue;
    }
    spdlog::info("{}: stopping; finishing in-flight calls",
                 sig == SIGTERM ? "SIGTERM" : "SIGINT");
    break;
  }
  (*server)->Shutdown(absl::Seconds(10));
  const auto stats = (*server)->ingestor().stats();
  server->reset();
  spdlog::info(
      "stopped: {} events accepted, {} duplicates, {} rejected "
      "since start",
      stats.accepted, stats.duplicates, stats.rejected);
  return 0;
}
