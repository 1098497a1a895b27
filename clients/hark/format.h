#ifndef HARK_CLIENTS_HARK_FORMAT_H_
#define HARK_CLIENTS_HARK_FORMAT_H_

// Human-readable output of the CLI.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "hark/v1/admin.pb.h"

namespace hark::cli {

// --- Text layout shared by the commands' output ---------------------------

// The number of characters `s` takes on a terminal, counting UTF-8 code
// points (enough for ids, names and the arrows used here).
size_t DisplayWidth(absl::string_view s);

// `s` padded with blanks to `width` terminal columns (not cut when longer).
std::string Pad(absl::string_view s, size_t width);

// `s` cut to at most `width` terminal columns, ending in "…" when cut (never
// inside a UTF-8 sequence).
std::string Truncate(absl::string_view s, size_t width);

// "-" for an empty string, else `s`.
std::string OrDash(absl::string_view s);

// `s` with line breaks and tabs as blanks, for one-line output.
std::string OneLine(absl::string_view s);

// "1 rule", "3 rules".
std::string Plural(uint64_t n, absl::string_view one, absl::string_view many);

// Rows of cells in columns two blanks apart, ending in a newline per row.
// Cells are left-aligned, or right-aligned in the columns whose entry of
// `right_aligned` is true (numbers). A left-aligned last column is not
// padded, so lines carry no trailing blanks.
std::string TextTable(const std::vector<std::vector<std::string>>& rows,
                      const std::vector<bool>& right_aligned = {});

// Appends "  label       value\n" (the label padded to 12 columns);
// continuation lines of a multi-line value are indented under the value.
// Nothing for an empty value.
void AppendRow(absl::string_view label, absl::string_view value,
               std::string* out);

// Decision outcomes in the order the policy checks them (DESIGN.md,
// "Orchestration"), then "expired"; the order outputs list them in.
inline constexpr const char* kDecisionOutcomes[] = {
    "sent",           "cooldown", "contact_cap", "sampled_out", "quota",
    "lower_priority", "shadow",   "stale",       "expired"};

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
