#include "bench/bench_util.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace hark::bench {

std::shared_ptr<grpc::Channel> NewChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                   args);
}

double Millis(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

std::string Thousands(double value) {
  std::string digits = absl::StrFormat("%.0f", value);
  std::string out;
  const size_t start = digits[0] == '-' ? 1 : 0;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > start && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string JsonString(absl::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += absl::StrFormat("\\u%04x", c);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string RunId(absl::string_view prefix) {
  std::random_device device;
  return absl::StrFormat("%s-%08x%04x", prefix, device(), device() & 0xffff);
}

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const double rank = std::ceil(p / 100.0 * static_cast<double>(sorted.size()));
  const size_t index = static_cast<size_t>(
      std::clamp(rank - 1, 0.0, static_cast<double>(sorted.size() - 1)));
  return sorted[index];
}

absl::StatusOr<std::pair<std::string, std::string>> NextFlag(int argc,
                                                             char** argv,
                                                             int* i) {
  const std::string arg = argv[*i];
  if (!absl::StartsWith(arg, "--")) {
    return absl::InvalidArgumentError("unexpected argument " + arg);
  }
  std::string name = arg.substr(2), value;
  if (size_t eq = name.find('='); eq != std::string::npos) {
    value = name.substr(eq + 1);
    name = name.substr(0, eq);
  } else if (name == "json") {
    value = "true";
  } else if (*i + 1 < argc) {
    value = argv[++*i];
  } else {
    return absl::InvalidArgumentError("flag --" + name + " needs a value");
  }
  return std::make_pair(std::move(name), std::move(value));
}

absl::Status CountFlag(absl::string_view name, absl::string_view value,
                       size_t min, size_t max, size_t* out) {
  uint64_t v;
  if (!absl::SimpleAtoi(value, &v) || v < min || v > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, " must be a number from ", min, " to ", max,
                     ", not '", value, "'"));
  }
  *out = static_cast<size_t>(v);
  return absl::OkStatus();
}

}  // namespace hark::bench
