#include "clients/hark/format.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "clients/hark/values.h"

namespace hark::cli {

size_t DisplayWidth(absl::string_view s) {
  size_t n = 0;
  for (char c : s) {
    // Count every byte that does not continue a UTF-8 sequence.
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  }
  return n;
}

std::string Pad(absl::string_view s, size_t width) {
  const size_t shown = DisplayWidth(s);
  std::string out(s);
  if (shown < width) out.append(width - shown, ' ');
  return out;
}

std::string Truncate(absl::string_view s, size_t width) {
  if (DisplayWidth(s) <= width) return std::string(s);
  if (width == 0) return "";
  // Keep width - 1 code points, then the ellipsis.
  size_t kept = 0;
  size_t end = 0;
  for (; end < s.size(); ++end) {
    if ((static_cast<unsigned char>(s[end]) & 0xC0) != 0x80) {
      if (kept == width - 1) break;
      ++kept;
    }
  }
  return absl::StrCat(s.substr(0, end), "…");
}

std::string OrDash(absl::string_view s) {
  return s.empty() ? "-" : std::string(s);
}

std::string OneLine(absl::string_view s) {
  std::string out(s);
  std::replace_if(
      out.begin(), out.end(),
      [](char c) { return c == '\n' || c == '\r' || c == '\t'; }, ' ');
  return out;
}

std::string Plural(uint64_t n, absl::string_view one, absl::string_view many) {
  return absl::StrCat(n, " ", n == 1 ? one : many);
}

std::string TextTable(const std::vector<std::vector<std::string>>& rows,
                      const std::vector<bool>& right_aligned) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], DisplayWidth(row[i]));
    }
  }
  std::string out;
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      const size_t blanks = widths[i] - DisplayWidth(row[i]);
      const bool right = i < right_aligned.size() && right_aligned[i];
      if (right) out.append(blanks, ' ');
      absl::StrAppend(&out, row[i]);
      if (i + 1 < row.size()) out.append(right ? 2 : blanks + 2, ' ');
    }
    out.push_back('\n');
  }
  return out;
}

void AppendRow(absl::string_view label, absl::string_view value,
               std::string* out) {
  if (value.empty()) return;
  const std::string indent(2 + 12, ' ');
  std::vector<absl::string_view> lines = absl::StrSplit(value, '\n');
  absl::StrAppend(out, "  ", Pad(label, 12), lines[0], "\n");
  for (size_t i = 1; i < lines.size(); ++i) {
    absl::StrAppend(out, indent, lines[i], "\n");
  }
}

std::string WithThousands(uint64_t n) {
  std::string digits = absl::StrCat(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

std::string HumanDuration(absl::Duration d) {
  if (d < absl::Seconds(1)) return "0s";
  int64_t seconds = absl::ToInt64Seconds(d);
  const struct {
    int64_t size;
    const char* unit;
  } units[] = {{86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}};
  std::vector<std::string> parts;
  for (const auto& u : units) {
    const int64_t count = seconds / u.size;
    seconds %= u.size;
    if (count > 0) parts.push_back(absl::StrCat(count, u.unit));
    // Stop after two units, and do not skip over a zero middle unit
    // ("1d 0h" reads oddly; "1d" then is enough).
    if (!parts.empty() && (parts.size() == 2 || count == 0)) break;
  }
  return absl::StrJoin(parts, " ");
}

std::string FormatStats(const hark::v1::GetStatsResponse& s,
                        absl::string_view server) {
  const absl::Duration uptime = absl::Seconds(s.uptime().seconds()) +
                                absl::Nanoseconds(s.uptime().nanos());
  std::string out = absl::StrCat(
      "harkd ", s.version().empty() ? "(unknown version)" : s.version(), " at ",
      server, "\n");
  auto row = [&out](absl::string_view label, absl::string_view value) {
    absl::StrAppend(&out, absl::StrFormat("  %-16s %s\n", label, value));
  };
  row("database", s.database().empty() ? "(not reported)" : s.database());
  std::string up = HumanDuration(uptime);
  if (s.has_started_at()) {
    absl::StrAppend(&up, " (since ", FormatRfc3339(s.started_at()), ")");
  }
  row("uptime", up);
  row("events stored", WithThousands(s.events_stored()));
  row("users", WithThousands(s.users()));
  row("since start",
      absl::StrCat("accepted ", WithThousands(s.accepted()), ", duplicates ",
                   WithThousands(s.duplicates()), ", rejected ",
                   WithThousands(s.rejected())));
  std::string queue =
      absl::StrCat(WithThousands(s.queue_depth()), " / ",
                   WithThousands(s.queue_capacity()), " events waiting");
  if (s.queue_full_rejections() > 0) {
    absl::StrAppend(&queue, "; ", WithThousands(s.queue_full_rejections()),
                    " calls refused while full");
  }
  row("write queue", queue);
  row("dedup window", absl::StrCat(WithThousands(s.dedup_window_size()), " / ",
                                   WithThousands(s.dedup_window_capacity()),
                                   " event ids remembered"));
  if (s.has_engine()) {
    const hark::v1::EngineStats& e = s.engine();
    row("rules", absl::StrCat(e.rules(), " serving"));
    row("engine", absl::StrCat(WithThousands(e.events()), " events, ",
                               WithThousands(e.late_events()), " late, ",
                               WithThousands(e.matches()), " matches stored"));
    row("open matches",
        absl::StrCat(WithThousands(e.live_states()), " (",
                     WithThousands(e.state_bytes()), " bytes), ",
                     WithThousands(e.pending_deadlines()),
                     " deadlines pending"));
    if (e.has_watermark()) row("watermark", FormatRfc3339(e.watermark()));
    // The stored size is 0 from a server that cannot tell it.
    std::string size =
        absl::StrCat(WithThousands(e.checkpoint_bytes()), " bytes");
    if (e.checkpoint_stored_bytes() > 0) {
      absl::StrAppend(&size, ", ", WithThousands(e.checkpoint_stored_bytes()),
                      " stored");
    }
    row("checkpoint",
        absl::StrCat("through event ", WithThousands(e.checkpoint_seq()), " (",
                     size, "); ", WithThousands(e.checkpoints()),
                     " saved since start, ",
                     WithThousands(e.checkpoint_deltas()), " of them deltas"));
    if (e.type_mismatches() > 0) {
      row("type mismatches",
          absl::StrCat(WithThousands(e.type_mismatches()),
                       " comparisons on missing or wrongly typed values"));
    }
  }
  if (s.has_orchestration()) {
    const hark::v1::OrchestrationStats& o = s.orchestration();
    uint64_t total = 0;
    std::vector<std::string> parts;
    for (const char* outcome : kDecisionOutcomes) {
      auto it = o.decisions().find(outcome);
      if (it == o.decisions().end() || it->second == 0) continue;
      total += it->second;
      parts.push_back(absl::StrCat(outcome, " ", WithThousands(it->second)));
    }
    row("decisions", total == 0
                         ? std::string("none yet")
                         : absl::StrCat(WithThousands(total), " (",
                                        absl::StrJoin(parts, ", "), ")"));
    row("prompts", absl::StrCat(WithThousands(o.prompts_fed()), " became due, ",
                                WithThousands(o.prompts_expired()),
                                " expired unanswered"));
  }
  return out;
}

std::string ProgressBar(double fraction, int width) {
  fraction = std::clamp(fraction, 0.0, 1.0);
  const int filled = static_cast<int>(fraction * width);
  return absl::StrFormat("[%s%s] %3d%%", std::string(filled, '#'),
                         std::string(width - filled, '.'),
                         static_cast<int>(fraction * 100));
}

}  // namespace hark::cli
