#ifndef HARK_CLIENTS_HARK_FORMAT_H_
#define HARK_CLIENTS_HARK_FORMAT_H_

// Human-readable output of the CLI.

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "hark/v1/admin.pb.h"

namespace hark::cli {

// "1,234,567".
std::string WithThousands(uint64_t n);

// The two largest non-zero units: "3d 4h", "2h 13m", "5m 3s", "42s"; "0s"
// for anything under a second.
std::string HumanDuration(absl::Duration d);

// The block printed by `hark stats`, ending in a newline.
std::string FormatStats(const hark::v1::GetStatsResponse& stats,
                        absl::string_view server);

// "[#######.............]  35%" — `fraction` is clamped to 0..1.
std::string ProgressBar(double fraction, int width);

}  // namespace hark::cli

#endif  // HARK_CLIENTS_HARK_FORMAT_H_
