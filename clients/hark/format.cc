#include "clients/hark/format.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "clients/hark/values.h"

namespace hark::cli {

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
    // Outcomes in the order the policy checks them.
    for (const char* outcome :
         {"sent", "cooldown", "contact_cap", "sampled_out", "quota",
          "lower_priority", "shadow", "stale", "expired"}) {
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
