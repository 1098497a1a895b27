#include "bench/harkd_launcher.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace hark::bench {

absl::StatusOr<std::unique_ptr<TempDir>> TempDir::Create() {
  std::error_code ec;
  std::string tmpl =
      (std::filesystem::temp_directory_path(ec) / "hark-bench-XXXXXX").string();
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("no temporary directory: ", ec.message()));
  }
  if (mkdtemp(tmpl.data()) == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create ", tmpl, ": ", std::strerror(errno)));
  }
  return std::unique_ptr<TempDir>(new TempDir(std::move(tmpl)));
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

absl::StatusOr<std::unique_ptr<HarkdLauncher>> HarkdLauncher::Start(
    const std::string& harkd_path, const std::string& dir,
    const std::vector<std::string>& extra_flags) {
  if (access(harkd_path.c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat(
        "harkd not found or not executable at ", harkd_path,
        " (build it, pass --harkd=PATH, or target a running server with "
        "--server and --key)"));
  }
  // An empty rules folder: harkd warns about a missing one.
  std::error_code ec;
  std::filesystem::create_directories(dir + "/rules", ec);

  int fds[2];
  // The read end must not leak into harkd; the write end must.
  if (pipe(fds) != 0 || fcntl(fds[0], F_SETFD, FD_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  std::vector<std::string> args = {
      harkd_path,
      "--listen=127.0.0.1:0",
      "--db=" + dir + "/hark.db",
      "--keys=" + dir + "/keys",
      "--rules=" + dir + "/rules",
      "--log-level=warn",
      absl::StrCat("--ready-fd=", fds[1]),
  };
  args.insert(args.end(), extra_flags.begin(), extra_flags.end());
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  }
  if (pid == 0) {
    // The benchmark blocks SIGINT/SIGTERM for its signal thread; harkd must
    // start with the default mask. Only async-signal-safe calls here.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);

  // harkd writes "<port>\n" once it serves; if it dies first the pipe
  // closes. Bounded so that a hung harkd does not hang the benchmark.
  std::string out;
  pollfd p{fds[0], POLLIN, 0};
  char buf[64];
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (out.find('\n') == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      break;
    }
    const ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  auto launcher =
      std::unique_ptr<HarkdLauncher>(new HarkdLauncher(pid, dir, ""));
  int port = 0;
  if (!absl::SimpleAtoi(out.substr(0, out.find('\n')), &port) || port <= 0) {
    launcher->Stop().IgnoreError();
    return absl::UnavailableError(absl::StrCat(
        "harkd (", harkd_path,
        ") did not report a port within 60 s; its messages are above"));
  }
  launcher->address_ = absl::StrCat("127.0.0.1:", port);
  return launcher;
}

HarkdLauncher::~HarkdLauncher() { Stop().IgnoreError(); }

absl::Status HarkdLauncher::Stop() {
  if (pid_ <= 0) return absl::OkStatus();
  kill(pid_, SIGTERM);
  int status = 0;
  bool exited = false;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno != EINTR)) {
      exited = r == pid_;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!exited) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return absl::DeadlineExceededError(
        "harkd did not exit within 30 s of SIGTERM; killed it");
  }
  pid_ = -1;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
  if (WIFEXITED(status)) {
    return absl::InternalError(
        absl::StrCat("harkd exited with status ", WEXITSTATUS(status)));
  }
  return absl::InternalError(
      absl::StrCat("harkd died of signal ", WTERMSIG(status)));
}

absl::StatusOr<std::string> HarkdLauncher::Key(const std::string& role) const {
  const std::string path = dir_ + "/hark-cli.keys";
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::string line;
  // Lines are "<name> <role> <key>"; '#' starts a comment line.
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string name, line_role, key;
    fields >> name >> line_role >> key;
    if (line_role == role && !key.empty()) return key;
  }
  return absl::NotFoundError(
      absl::StrCat("no key with role ", role, " in ", path));
}

std::vector<ThreadCpu> HarkdLauncher::ThreadCpuTimes() const {
  std::vector<ThreadCpu> threads;
  if (pid_ <= 0) return threads;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(
           absl::StrCat("/proc/", pid_, "/task"), ec)) {
    std::ifstream in(entry.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
    // "tid (comm) state ppid ... utime stime ...": comm may hold spaces, so
    // split after its closing parenthesis. utime and stime are fields 14
    // and 15, i.e. 11 and 12 counted from the state field.
    const size_t open = stat.find('(');
    const size_t close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    std::vector<absl::string_view> fields = absl::StrSplit(
        absl::string_view(stat).substr(close + 2), ' ', absl::SkipEmpty());
    ThreadCpu t;
    uint64_t utime = 0, stime = 0;
    if (fields.size() < 13 ||
        !absl::SimpleAtoi(stat.substr(0, open - 1), &t.tid) ||
        !absl::SimpleAtoi(fields[11], &utime) ||
        !absl::SimpleAtoi(fields[12], &stime)) {
      continue;
    }
    t.name = stat.substr(open + 1, close - open - 1);
    t.seconds = static_cast<double>(utime + stime) / ticks;
    threads.push_back(std::move(t));
  }
  return threads;
}

double SelfCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) +
           static_cast<double>(tv.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

}  // namespace hark::bench
