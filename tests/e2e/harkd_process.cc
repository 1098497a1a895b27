#include "tests/e2e/harkd_process.h"

#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "hark/v1/ingest.grpc.pb.h"

namespace hark::testing {

HarkdProcess::HarkdProcess() {
  std::string tmpl =
      (std::filesystem::temp_directory_path() / "harkd-e2e-XXXXXX").string();
  if (mkdtemp(tmpl.data()) != nullptr) {
    dir_ = tmpl;
    std::filesystem::create_directories(dir_ + "/rules");
  }
}

HarkdProcess::~HarkdProcess() {
  if (pid_ > 0) Kill9();
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

bool HarkdProcess::Start(const std::vector<std::string>& extra_flags) {
  int fds[2];
  if (pipe(fds) != 0) {
    error_ = "pipe failed";
    return false;
  }
  std::vector<std::string> args = {
      HARKD_PATH,
      "--listen=127.0.0.1:0",
      "--db=" + dir_ + "/hark.db",
      "--keys=" + dir_ + "/keys",
      "--rules=" + dir_ + "/rules",
      "--log-level=warn",
      absl::StrCat("--ready-fd=", fds[1]),
  };
  args.insert(args.end(), extra_flags.begin(), extra_flags.end());
  pid_ = fork();
  if (pid_ == 0) {
    close(fds[0]);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  // Bounded wait: harkd writes its port once it serves, or dies and the
  // pipe closes.
  std::string out;
  pollfd p{fds[0], POLLIN, 0};
  char buf[64];
  while (out.find('\n') == std::string::npos) {
    if (poll(&p, 1, 30000) <= 0) break;
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, n);
  }
  close(fds[0]);
  if (!absl::SimpleAtoi(out.substr(0, out.find('\n')), &port_) || port_ <= 0) {
    error_ = "harkd did not report a port (it exited or hung); see stderr";
    Kill9();
    return false;
  }
  return true;
}

void HarkdProcess::Kill9() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

int HarkdProcess::SignalAndWait(int sig) {
  kill(pid_, sig);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

void HarkdProcess::WriteFile(const std::string& relative_path,
                             const std::string& content) const {
  const std::filesystem::path path =
      std::filesystem::path(dir_) / relative_path;
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::trunc) << content;
}

void HarkdProcess::CopyShippedRules() const {
  const std::filesystem::path from = HARK_SOURCE_DIR "/rules";
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(from)) {
    if (entry.path().extension() != ".yaml") continue;
    const std::filesystem::path to = std::filesystem::path(dir_) / "rules" /
                                     entry.path().lexically_relative(from);
    std::filesystem::create_directories(to.parent_path());
    std::filesystem::copy_file(
        entry.path(), to, std::filesystem::copy_options::overwrite_existing);
  }
}

grpc::Status HarkdProcess::Track(
    const std::vector<hark::v1::Event>& events) const {
  auto stub = hark::v1::Ingest::NewStub(Channel());
  hark::v1::TrackEventsRequest request;
  for (const auto& e : events) *request.add_events() = e;
  hark::v1::TrackEventsResponse response;
  grpc::Status status =
      stub->TrackEvents(Context(*this, "ingest").get(), request, &response);
  if (!status.ok()) return status;
  for (int i = 0; i < response.results_size(); ++i) {
    if (response.results(i).status() != hark::v1::EventResult::ACCEPTED) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "event " + events[i].event_id() + " not accepted: " +
                              response.results(i).DebugString());
    }
  }
  return grpc::Status::OK;
}

grpc::Status HarkdProcess::Identify(const std::string& user,
                                    const std::string& key,
                                    const std::string& value) const {
  auto stub = hark::v1::Ingest::NewStub(Channel());
  hark::v1::IdentifyUserRequest request;
  request.set_user_id(user);
  (*request.mutable_traits())[key].set_string_value(value);
  hark::v1::IdentifyUserResponse response;
  return stub->IdentifyUser(Context(*this, "ingest").get(), request, &response);
}

std::string HarkdProcess::Key(const std::string& role) const {
  std::ifstream in(dir_ + "/hark-cli.keys");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string name, line_role, key;
    fields >> name >> line_role >> key;
    if (line_role == role) return key;
  }
  return "";
}

std::shared_ptr<grpc::Channel> HarkdProcess::Channel() const {
  return grpc::CreateChannel(absl::StrCat("127.0.0.1:", port_),
                             grpc::InsecureChannelCredentials());
}

std::unique_ptr<grpc::ClientContext> HarkdProcess::Context(
    const HarkdProcess& harkd, const std::string& role) {
  auto context = std::make_unique<grpc::ClientContext>();
  if (!role.empty()) {
    context->AddMetadata("authorization", "Bearer " + harkd.Key(role));
  }
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(30));
  return context;
}

}  // namespace hark::testing
