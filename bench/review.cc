#include "bench/review.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench_util.h"
#include "bench/harkd_launcher.h"
#include "bench/review_seed.h"
#include "grpcpp/client_context.h"
#include "hark/proto_time.h"
#include "hark/v1/review.grpc.pb.h"
#include "server/store/store.h"

namespace hark::bench {
namespace {

using Clock = std::chrono::steady_clock;

#ifdef HARK_BENCH_RULES_DIR
constexpr char kDefaultRules[] = HARK_BENCH_RULES_DIR;
#else
constexpr char kDefaultRules[] = "rules";
#endif

constexpr char kUsage[] = R"(Usage: hark-bench review [flags]

Measures the review API (issue 5) over a large database: the latency of
Review.ListResponses pages under ten filters, and the time of
Review.GetReport. Targets: p99 of a filtered page under 50 ms; the report
under 2 s.

Seeding: the database is written straight through the Store API (not
timed as part of the benchmark, but reported): --responses responses of
--users users to the four shipped rules (onboarding_abandonment,
repeated_errors, downgrade_after_upgrade, cancellation), each with its match
(a hark.v1.Match with 1-3 matched events and the traits plan and country),
its sent decision and its prompt (delivered, mostly shown, then answered);
survey answers (choice, CES or rating score, a free text from ~50
sentences in about half of them) or the pricing interview's status and
notes; friction tags as the tagger gives them (choice, else text, else the
rule's hypothesis; ~10 %% with a secondary text tag; 1 %% re-tagged by hand);
submitted over 26 weeks. Plus 20 %% more matches of users who did not answer
(suppressed decisions, expired or dismissed prompts) and a
subscription_cancelled event for 8 %% of the users (the report's outcome
linkage). See bench/review_seed.h.

Then it starts its own harkd on the database with the shipped rules (the
repository's rules folder copied into a temporary folder) and calls it with
the research key, one client, one call at a time.

Pages: per filter, --warmup calls (not counted), then --pages calls of the
first page ("first") and --pages calls of deeper pages ("deep": from a
first page, follow next_page_token for up to --chain pages, counting those,
then start again), each of --page-size responses:
  (a) no filter                 (f) min_score 1, max_score 2
  (b) friction=pricing          (g) text_contains "expensive"
  (c) friction=product, any_tag (h) submitted in one week, 10 weeks before
  (d) rule cancellation,            the newest response
      source=text               (i) rule onboarding_abandonment,
  (e) trait plan=pro                friction=pricing, trait plan=pro
                                (j) source=manual, friction=perception
                                    (rare)
Every row returned is checked against its filter (friction, any tag,
source, rule, time range, score, text).
Report: GetReport without filter and with --report-rule, each
--report-runs times after one call not counted.

Target:
  --harkd=PATH          harkd binary to start. Default: %s
  --harkd-flag=FLAG     Extra flag for the started harkd. Repeatable.
  --rules=DIR           Rules folder copied for harkd. Default: %s
  --db=PATH             Keep the database at PATH: seeded there if it holds
                        no responses (or does not exist), else used as it
                        is (the seeding flags are then ignored). Without
                        it the database is seeded in the temporary folder
                        and removed at the end.
  --stage=DIR|none      Seed a new database in DIR (in memory: tmpfs)
                        and copy it into place when done, which spares
                        the disk a checkpoint fsync every few responses.
                        none: seed in place. Default: /dev/shm (in place
                        if it lacks ~4 KB per response)

Seeding:
  --responses=N         Responses. Default: 1000000
  --users=N             Users. Default: 200000
  --seed=N              Seeds the generator. Default: 1

Measurement:
  --pages=N             Timed first pages, and deep pages, per filter.
                        Default: 200
  --page-size=N         Responses per page, 1-1000. Default: 50
  --chain=N             Deep pages followed from one first page. Default: 20
  --warmup=N            Calls per filter before timing. Default: 20
  --report-runs=N       Timed GetReport calls per filter. Default: 5
  --report-rule=ID      The rule filter of the second report.
                        Default: repeated_errors

Output:
  --json                One JSON object on stdout.
  --progress=on|off     Seeding and measuring progress on stderr.
                        Default: on
  --help                Show this help.

Figures: p50, p99 and max per series in ms (nearest rank), the p99 of all
page calls, and the median and max seconds of each report.
Exit status: 0 if every call succeeded and returned only matching rows
(whether or not the targets were met), 1 otherwise, 2 on bad usage.
)";

struct Flags {
  std::string harkd;
  std::vector<std::string> harkd_flags;
  std::string rules = kDefaultRules;
  std::string db;
  std::string stage = "/dev/shm";
  size_t responses = 1000000;
  size_t users = 200000;
  uint64_t seed = 1;
  size_t pages = 200;
  size_t page_size = 50;
  size_t chain = 20;
  size_t warmup = 20;
  size_t report_runs = 5;
  std::string report_rule = "repeated_errors";
  bool json = false;
  bool progress = true;
};

absl::StatusOr<Flags> ParseFlags(int argc, char** argv,
                                 const ReviewHooks& hooks) {
  Flags flags;
  flags.harkd = hooks.default_harkd;
  auto bad = [](std::string message) {
    return absl::InvalidArgumentError(std::move(message));
  };
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << ReviewUsage(hooks.default_harkd);
      std::exit(0);
    }
    absl::StatusOr<std::pair<std::string, std::string>> flag =
        NextFlag(argc, argv, &i);
    if (!flag.ok()) return flag.status();
    const std::string& name = flag->first;
    const std::string& value = flag->second;
    auto count = [&](size_t min, size_t max, size_t* out) {
      return CountFlag(name, value, min, max, out);
    };
    absl::Status status;
    if (name == "harkd") {
      flags.harkd = value;
    } else if (name == "harkd-flag") {
      flags.harkd_flags.push_back(value);
    } else if (name == "rules") {
      flags.rules = value;
    } else if (name == "db") {
      flags.db = value;
    } else if (name == "stage") {
      flags.stage = value;
    } else if (name == "responses") {
      status = count(1, 100000000, &flags.responses);
    } else if (name == "users") {
      status = count(1, 100000000, &flags.users);
    } else if (name == "seed") {
      if (!absl::SimpleAtoi(value, &flags.seed)) {
        status = bad("--seed must be a number");
      }
    } else if (name == "pages") {
      status = count(1, 1000000, &flags.pages);
    } else if (name == "page-size") {
      status = count(1, 1000, &flags.page_size);
    } else if (name == "chain") {
      status = count(1, 100000, &flags.chain);
    } else if (name == "warmup") {
      status = count(0, 100000, &flags.warmup);
    } else if (name == "report-runs") {
      status = count(1, 1000, &flags.report_runs);
    } else if (name == "report-rule") {
      flags.report_rule = value;
    } else if (name == "json") {
      if (value != "true" && value != "false") {
        status = bad("--json takes no value");
      }
      flags.json = value == "true";
    } else if (name == "progress") {
      if (value != "on" && value != "off") {
        status = bad("--progress must be on or off");
      }
      flags.progress = value == "on";
    } else {
      status = bad("unknown flag --" + name);
    }
    if (!status.ok()) return status;
  }
  return flags;
}

// One filter and its samples.
struct Series {
  std::string label;  // "(a)"
  std::string name;   // what the filter is
  hark::v1::ResponseFilter filter;
  std::vector<double> first_ms;  // sorted once measured
  std::vector<double> deep_ms;
  // Rows of the first page, and deep chains that reached the last page
  // before --chain pages.
  size_t first_rows = 0;
  size_t chains = 0;
  size_t chains_ended = 0;
  // Rows that did not match the filter.
  size_t mismatches = 0;
  std::string error;
};

struct ReportSeries {
  std::string name;
  std::vector<double> seconds;  // sorted
  uint64_t responses = 0;
  int rules = 0;
  int weeks = 0;
  std::string error;
};

struct SeedInfo {
  bool seeded = false;  // else reused
  bool staged = false;  // seeded in --stage, then copied
  ReviewSeedResult result;
  absl::Time newest;
};

// Checks a returned response against the parts of `f` it carries.
bool Matches(const hark::v1::ResponseFilter& f, const hark::v1::Response& r) {
  if (!f.friction().empty()) {
    if (f.any_tag()) {
      if (std::none_of(r.tags().begin(), r.tags().end(), [&](const auto& t) {
            return t.friction() == f.friction();
          })) {
        return false;
      }
    } else if (r.tags().empty() || !r.tags(0).primary() ||
               r.tags(0).friction() != f.friction()) {
      return false;
    }
  }
  if (!f.source().empty() && (r.tags().empty() || !r.tags(0).primary() ||
                              r.tags(0).source() != f.source())) {
    return false;
  }
  if (!f.rule_id().empty() && r.rule_id() != f.rule_id()) return false;
  const absl::Time at = FromTimestamp(r.submitted_at());
  if (f.has_from() && at < FromTimestamp(f.from())) return false;
  if (f.has_to() && at >= FromTimestamp(f.to())) return false;
  if (f.min_score() != 0 || f.max_score() != 0) {
    const auto scored =
        std::find_if(r.answers().begin(), r.answers().end(), [](const auto& a) {
          return a.value_case() == hark::v1::Answer::kScore;
        });
    if (scored == r.answers().end() || scored->score() < f.min_score() ||
        scored->score() > f.max_score()) {
      return false;
    }
  }
  if (!f.text_contains().empty()) {
    std::string text = r.interview_notes();
    for (const hark::v1::Answer& a : r.answers()) {
      if (a.value_case() == hark::v1::Answer::kText) {
        absl::StrAppend(&text, "\n", a.text());
      }
    }
    if (!absl::StrContains(absl::AsciiStrToLower(text),
                           absl::AsciiStrToLower(f.text_contains()))) {
      return false;
    }
  }
  return true;
}

std::vector<Series> MakeSeries(absl::Time newest) {
  std::vector<Series> out;
  auto add = [&](const char* label, const char* name) -> auto& {
    out.push_back(Series{label, name, {}, {}, {}, 0, 0, 0, 0, ""});
    return out.back().filter;
  };
  add("(a)", "no filter");
  add("(b)", "friction=pricing").set_friction("pricing");
  {
    auto& f = add("(c)", "friction=product any_tag");
    f.set_friction("product");
    f.set_any_tag(true);
  }
  {
    auto& f = add("(d)", "rule=cancellation source=text");
    f.set_rule_id("cancellation");
    f.set_source("text");
  }
  add("(e)", "trait plan=pro").set_trait("plan=pro");
  {
    auto& f = add("(f)", "score 1..2");
    f.set_min_score(1);
    f.set_max_score(2);
  }
  add("(g)", "text \"expensive\"").set_text_contains("expensive");
  {
    auto& f = add("(h)", "one week, 10 weeks ago");
    const absl::Time from = newest - absl::Hours(10 * 7 * 24);
    SetTimestamp(from, f.mutable_from());
    SetTimestamp(from + absl::Hours(7 * 24), f.mutable_to());
  }
  {
    auto& f = add("(i)", "rule=onboarding friction=pricing plan=pro");
    f.set_rule_id("onboarding_abandonment");
    f.set_friction("pricing");
    f.set_trait("plan=pro");
  }
  {
    auto& f = add("(j)", "source=manual friction=perception");
    f.set_source("manual");
    f.set_friction("perception");
  }
  return out;
}

class Run {
 public:
  Run(const Flags& flags, const ReviewHooks& hooks)
      : flags_(flags), hooks_(hooks) {}

  int Main() {
    auto dir = TempDir::Create();
    if (!dir.ok()) return Fail(dir.status());
    dir_ = *std::move(dir);
    if (hooks_.on_resources) hooks_.on_resources(-1, dir_->path());
    db_ = flags_.db.empty() ? dir_->path() + "/hark.db" : flags_.db;

    absl::Status prepared = PrepareDatabase();
    if (!prepared.ok()) return Fail(prepared);
    absl::Status copied = CopyRules();
    if (!copied.ok()) return Fail(copied);

    Status("starting harkd...");
    std::vector<std::string> extra = {"--db=" + db_};
    extra.insert(extra.end(), flags_.harkd_flags.begin(),
                 flags_.harkd_flags.end());
    const Clock::time_point launch = Clock::now();
    auto started = HarkdLauncher::Start(flags_.harkd, dir_->path(), extra);
    if (!started.ok()) return Fail(started.status());
    harkd_ = *std::move(started);
    start_seconds_ =
        std::chrono::duration<double>(Clock::now() - launch).count();
    if (hooks_.on_resources) hooks_.on_resources(harkd_->pid(), dir_->path());
    auto key = harkd_->Key("research");
    if (!key.ok()) return Fail(key.status());
    key_ = *key;
    target_ = absl::StrCat("harkd started by hark-bench (", flags_.harkd,
                           ") on ", harkd_->address(), ", rules from ",
                           flags_.rules, ", database ", db_);

    Measure();

    hooks_.release([&] {
      if (harkd_ != nullptr) {
        absl::Status stopped = harkd_->Stop();
        if (!stopped.ok()) {
          problems_.push_back(
              absl::StrCat("harkd did not stop cleanly: ", stopped.message()));
        }
        harkd_.reset();
      }
      dir_.reset();
    });
    if (flags_.json) {
      PrintJson();
    } else {
      PrintText();
    }
    return problems_.empty() ? 0 : 1;
  }

 private:
  int Fail(const absl::Status& status) {
    Status("");
    std::cerr << "hark-bench: " << status.message() << "\n";
    hooks_.release([&] {
      if (harkd_ != nullptr) (void)harkd_->Stop();
      harkd_.reset();
      dir_.reset();
    });
    return 1;
  }

  void Status(const std::string& text) {
    if (!flags_.progress || text.empty()) return;
    std::fprintf(stderr, "hark-bench review: %s\n", text.c_str());
    std::fflush(stderr);
  }

  // The newest response's submission time in the database at `path`;
  // nullopt if it holds none.
  static absl::StatusOr<std::optional<absl::Time>> NewestResponse(
      const std::string& path) {
    store::StoreOptions options;
    options.path = path;
    absl::StatusOr<std::unique_ptr<store::Store>> store =
        store::OpenSqliteStore(options);
    if (!store.ok()) return store.status();
    absl::StatusOr<std::vector<store::ResponseRecord>> newest =
        (*store)->ListResponses(store::ResponseQuery(), 0, 1);
    if (!newest.ok()) return newest.status();
    if (newest->empty()) return std::nullopt;
    return newest->front().submitted_at;
  }

  // A fresh folder in --stage for the seeding, or "" to seed in place.
  // Seeding makes SQLite commit once per response (InsertResponse), and a
  // disk makes every WAL checkpoint wait for fsync; in memory the same
  // writes run several times faster. Needs room for ~3 KB per response.
  std::string MakeStage() {
    if (flags_.stage == "none") return "";
    std::error_code ec;
    const std::filesystem::space_info space =
        std::filesystem::space(flags_.stage, ec);
    const double needed = 4000.0 * static_cast<double>(flags_.responses);
    if (ec || static_cast<double>(space.available) < needed) {
      Status(absl::StrCat("not staging in ", flags_.stage, " (",
                          ec ? ec.message() : "too little room",
                          "); seeding in place"));
      return "";
    }
    std::string stage = flags_.stage + "/hark-bench-review-XXXXXX";
    if (mkdtemp(stage.data()) == nullptr) return "";
    return stage;
  }

  // Seeds db_ unless it holds responses already. A new database is seeded
  // in a folder in memory (--stage) and then copied into place under a
  // temporary name and renamed, so that an interrupted seeding never
  // leaves a database that looks seeded. An existing database without
  // responses is seeded in place, with a marker file beside it while that
  // runs.
  absl::Status PrepareDatabase() {
    const std::string marker = db_ + ".seeding";
    std::error_code ec;
    if (std::filesystem::exists(marker, ec)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "seeding ", db_, " was interrupted (", marker,
          " exists); remove the database, its -wal and -shm files and the "
          "marker, or pass another --db"));
    }
    const bool exists = std::filesystem::exists(db_, ec);
    if (exists) {
      absl::StatusOr<std::optional<absl::Time>> newest = NewestResponse(db_);
      if (!newest.ok()) return newest.status();
      if (newest->has_value()) {
        seed_.newest = **newest;
        Status(absl::StrCat("reusing ", db_, " (newest response submitted ",
                            absl::FormatTime(seed_.newest, absl::UTCTimeZone()),
                            ")"));
        return absl::OkStatus();
      }
    }
    const std::filesystem::path parent =
        std::filesystem::path(db_).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    const std::string stage = exists ? "" : MakeStage();
    std::string path = db_;
    if (stage.empty()) {
      std::ofstream(marker) << "hark-bench review seeding\n";
    } else {
      // A signal now removes the stage (in memory) rather than dir_.
      if (hooks_.on_resources) hooks_.on_resources(-1, stage);
      path = stage + "/hark.db";
    }
    ReviewSeedOptions options;
    options.responses = flags_.responses;
    options.users = flags_.users;
    options.seed = flags_.seed;
    options.end = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()));
    if (flags_.progress) {
      options.progress = [this](const std::string& line) { Status(line); };
    }
    Status(absl::StrCat(
        "seeding ", path, ": ",
        Thousands(static_cast<double>(flags_.responses)), " responses of ",
        Thousands(static_cast<double>(flags_.users)), " users..."));
    absl::StatusOr<ReviewSeedResult> seeded = SeedReviewDatabase(path, options);
    if (seeded.ok() && !stage.empty()) {
      Status(absl::StrCat("copying the database to ", db_, "..."));
      const Clock::time_point copy_start = Clock::now();
      if (hooks_.on_resources) hooks_.on_resources(-1, dir_->path());
      const std::string partial = db_ + ".partial";
      std::filesystem::copy_file(
          path, partial, std::filesystem::copy_options::overwrite_existing, ec);
      if (!ec) std::filesystem::rename(partial, db_, ec);
      if (ec) {
        seeded = absl::InternalError(absl::StrCat("cannot copy ", path, " to ",
                                                  db_, ": ", ec.message()));
      }
      copy_seconds_ =
          std::chrono::duration<double>(Clock::now() - copy_start).count();
    }
    if (!stage.empty()) std::filesystem::remove_all(stage, ec);
    if (!seeded.ok()) return seeded.status();
    if (stage.empty()) std::filesystem::remove(marker, ec);
    seed_.seeded = true;
    seed_.staged = !stage.empty();
    seed_.result = *seeded;
    Status(absl::StrFormat(
        "seeded in %.1f s (%s responses/s)%s: %s users, %s matches, %s "
        "decisions, %s prompts, %s responses (%s with a secondary tag, %s "
        "manual tags), %s outcome events",
        seeded->seconds,
        Thousands(static_cast<double>(seeded->responses) / seeded->seconds),
        stage.empty() ? ""
                      : absl::StrFormat(" in %s, copied in %.1f s",
                                        flags_.stage, copy_seconds_),
        Thousands(static_cast<double>(seeded->users)),
        Thousands(static_cast<double>(seeded->matches)),
        Thousands(static_cast<double>(seeded->decisions)),
        Thousands(static_cast<double>(seeded->prompts)),
        Thousands(static_cast<double>(seeded->responses)),
        Thousands(static_cast<double>(seeded->secondary_tagged)),
        Thousands(static_cast<double>(seeded->manual_tags)),
        Thousands(static_cast<double>(seeded->outcome_events))));
    absl::StatusOr<std::optional<absl::Time>> newest = NewestResponse(db_);
    if (!newest.ok()) return newest.status();
    if (!newest->has_value()) {
      return absl::InternalError("seeding stored no response");
    }
    seed_.newest = **newest;
    return absl::OkStatus();
  }

  absl::Status CopyRules() {
    std::error_code ec;
    if (!std::filesystem::is_directory(flags_.rules, ec)) {
      return absl::NotFoundError(absl::StrCat(
          "no rules folder at ", flags_.rules, " (pass --rules=DIR)"));
    }
    std::filesystem::copy(flags_.rules, dir_->path() + "/rules",
                          std::filesystem::copy_options::recursive |
                              std::filesystem::copy_options::overwrite_existing,
                          ec);
    if (ec) {
      return absl::InternalError(
          absl::StrCat("cannot copy ", flags_.rules, ": ", ec.message()));
    }
    return absl::OkStatus();
  }

  grpc::Status List(const hark::v1::ListResponsesRequest& request,
                    hark::v1::ListResponsesResponse* response, double* ms) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + key_);
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(120));
    const Clock::time_point start = Clock::now();
    grpc::Status status = stub_->ListResponses(&context, request, response);
    *ms = Millis(Clock::now() - start);
    return status;
  }

  // One page call; false (with s->error set) if it failed.
  bool Page(Series* s, const std::string& token,
            hark::v1::ListResponsesResponse* page, double* ms) {
    hark::v1::ListResponsesRequest request;
    *request.mutable_filter() = s->filter;
    request.set_page_size(static_cast<uint32_t>(flags_.page_size));
    request.set_page_token(token);
    page->Clear();
    const grpc::Status status = List(request, page, ms);
    if (!status.ok()) {
      s->error =
          absl::StrCat("ListResponses ", s->label, " ", s->name,
                       " failed: ", static_cast<int>(status.error_code()), " ",
                       status.error_message());
      return false;
    }
    for (const hark::v1::Response& r : page->responses()) {
      if (!Matches(s->filter, r)) ++s->mismatches;
    }
    return true;
  }

  void MeasureSeries(Series* s) {
    hark::v1::ListResponsesResponse page;
    double ms = 0;
    // Warm-up: a chain of pages from the first.
    std::string token;
    for (size_t i = 0; i < flags_.warmup; ++i) {
      if (!Page(s, token, &page, &ms)) return;
      token = page.next_page_token();
    }
    for (size_t i = 0; i < flags_.pages; ++i) {
      if (!Page(s, "", &page, &ms)) return;
      s->first_ms.push_back(ms);
      s->first_rows = page.responses_size();
    }
    const bool more = !page.next_page_token().empty();
    while (more && s->deep_ms.size() < flags_.pages) {
      if (!Page(s, "", &page, &ms)) return;
      ++s->chains;
      size_t depth = 0;
      while (!page.next_page_token().empty() && depth < flags_.chain &&
             s->deep_ms.size() < flags_.pages) {
        const std::string next = page.next_page_token();
        if (!Page(s, next, &page, &ms)) return;
        s->deep_ms.push_back(ms);
        ++depth;
      }
      if (page.next_page_token().empty()) ++s->chains_ended;
    }
  }

  void MeasureReport(ReportSeries* r, const hark::v1::GetReportRequest& req) {
    for (size_t i = 0; i < flags_.report_runs + 1; ++i) {
      grpc::ClientContext context;
      context.AddMetadata("authorization", "Bearer " + key_);
      context.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::seconds(600));
      hark::v1::Report report;
      const Clock::time_point start = Clock::now();
      const grpc::Status status = stub_->GetReport(&context, req, &report);
      const double seconds =
          std::chrono::duration<double>(Clock::now() - start).count();
      if (!status.ok()) {
        r->error =
            absl::StrCat("GetReport ", r->name,
                         " failed: ", static_cast<int>(status.error_code()),
                         " ", status.error_message());
        return;
      }
      if (i > 0) r->seconds.push_back(seconds);  // the first is a warm-up
      r->responses = report.responses();
      r->rules = report.rules_size();
      r->weeks = report.trend_size();
    }
    std::sort(r->seconds.begin(), r->seconds.end());
  }

  void Measure() {
    stub_ = hark::v1::Review::NewStub(NewChannel(harkd_->address()));
    series_ = MakeSeries(seed_.newest);
    for (Series& s : series_) {
      Status(absl::StrCat("ListResponses ", s.label, " ", s.name, "..."));
      MeasureSeries(&s);
      std::sort(s.first_ms.begin(), s.first_ms.end());
      std::sort(s.deep_ms.begin(), s.deep_ms.end());
      if (!s.error.empty()) problems_.push_back(s.error);
      if (s.mismatches > 0) {
        problems_.push_back(absl::StrCat(s.label, " ", s.name, ": ",
                                         s.mismatches,
                                         " rows do not match the filter"));
      }
    }
    hark::v1::GetReportRequest all;
    hark::v1::GetReportRequest one;
    one.mutable_filter()->set_rule_id(flags_.report_rule);
    reports_.push_back(ReportSeries{"no filter", {}, 0, 0, 0, ""});
    reports_.push_back(
        ReportSeries{"rule_id=" + flags_.report_rule, {}, 0, 0, 0, ""});
    Status("GetReport, no filter...");
    MeasureReport(&reports_[0], all);
    Status(absl::StrCat("GetReport, rule_id=", flags_.report_rule, "..."));
    MeasureReport(&reports_[1], one);
    for (const ReportSeries& r : reports_) {
      if (!r.error.empty()) problems_.push_back(r.error);
    }
    std::error_code ec;
    db_bytes_ = 0;
    for (const char* suffix : {"", "-wal"}) {
      const auto size = std::filesystem::file_size(db_ + suffix, ec);
      if (!ec) db_bytes_ += size;
    }
  }

  std::vector<double> AllPageSamples() const {
    std::vector<double> all;
    for (const Series& s : series_) {
      all.insert(all.end(), s.first_ms.begin(), s.first_ms.end());
      all.insert(all.end(), s.deep_ms.begin(), s.deep_ms.end());
    }
    std::sort(all.begin(), all.end());
    return all;
  }

  static std::string Triple(const std::vector<double>& ms) {
    if (ms.empty()) return "-";
    return absl::StrFormat("%.2f / %.2f / %.2f", Percentile(ms, 50),
                           Percentile(ms, 99), ms.back());
  }

  std::string SeedLine() const {
    if (!seed_.seeded) {
      return absl::StrCat("database reused (newest response submitted ",
                          absl::FormatTime(seed_.newest, absl::UTCTimeZone()),
                          ")");
    }
    const ReviewSeedResult& r = seed_.result;
    return absl::StrFormat(
        "seeded in %.1f s (%s responses/s%s): %s responses of %s users, %s "
        "matches, %s decisions, %s prompts, %s manual tags, %s outcome "
        "events",
        r.seconds, Thousands(static_cast<double>(r.responses) / r.seconds),
        seed_.staged ? absl::StrFormat(" in %s, copied in %.1f s", flags_.stage,
                                       copy_seconds_)
                     : "",
        Thousands(static_cast<double>(r.responses)),
        Thousands(static_cast<double>(r.users)),
        Thousands(static_cast<double>(r.matches)),
        Thousands(static_cast<double>(r.decisions)),
        Thousands(static_cast<double>(r.prompts)),
        Thousands(static_cast<double>(r.manual_tags)),
        Thousands(static_cast<double>(r.outcome_events)));
  }

  void PrintText() const {
    std::printf(
        "hark-bench review: pages of %zu, per filter %zu first pages and "
        "%zu deeper pages (chains of up to %zu), after %zu warm-up calls\n",
        flags_.page_size, flags_.pages, flags_.pages, flags_.chain,
        flags_.warmup);
    std::printf("target: %s\n", target_.c_str());
    std::printf("database: %s; %.2f GB; harkd ready after %.1f s\n\n",
                SeedLine().c_str(), static_cast<double>(db_bytes_) / 1e9,
                start_seconds_);
    std::printf("%-4s %-42s %5s %26s %26s %9s\n", "", "ListResponses filter",
                "rows", "first p50 / p99 / max ms", "deep p50 / p99 / max ms",
                "chains");
    for (const Series& s : series_) {
      std::printf("%-4s %-42s %5zu %26s %26s %9s\n", s.label.c_str(),
                  s.name.c_str(), s.first_rows, Triple(s.first_ms).c_str(),
                  Triple(s.deep_ms).c_str(),
                  s.chains == 0
                      ? "one page"
                      : absl::StrFormat("%zu/%zu end", s.chains_ended, s.chains)
                            .c_str());
    }
    const std::vector<double> all = AllPageSamples();
    const double p99 = Percentile(all, 99);
    std::printf(
        "\nall page calls: %zu, p50 %.2f ms, p99 %.2f ms, max %.2f ms -> "
        "target p99 < 50 ms: %s\n",
        all.size(), Percentile(all, 50), p99, all.empty() ? 0.0 : all.back(),
        all.empty() ? "not measured"
        : p99 < 50  ? "met"
                    : "NOT met");
    std::vector<std::string> slow;
    for (const Series& s : series_) {
      for (const auto* ms : {&s.first_ms, &s.deep_ms}) {
        if (!ms->empty() && Percentile(*ms, 99) >= 50) {
          slow.push_back(
              absl::StrCat(s.label, ms == &s.first_ms ? " first" : " deep"));
        }
      }
    }
    if (!slow.empty()) {
      std::printf("series with p99 >= 50 ms: %s\n",
                  absl::StrJoin(slow, ", ").c_str());
    }
    std::printf("\n%-28s %8s %8s %6s %12s %6s %6s\n", "GetReport", "median s",
                "max s", "runs", "responses", "rules", "weeks");
    bool report_met = true;
    for (const ReportSeries& r : reports_) {
      if (r.seconds.empty()) {
        report_met = false;
        std::printf("%-28s %8s\n", r.name.c_str(), "failed");
        continue;
      }
      if (Percentile(r.seconds, 50) >= 2) report_met = false;
      std::printf("%-28s %8.3f %8.3f %6zu %12s %6d %6d\n", r.name.c_str(),
                  Percentile(r.seconds, 50), r.seconds.back(), r.seconds.size(),
                  Thousands(static_cast<double>(r.responses)).c_str(), r.rules,
                  r.weeks);
    }
    std::printf("target: report under 2 s (median): %s\n",
                report_met ? "met" : "NOT met");
    for (const std::string& p : problems_) {
      std::printf("PROBLEM: %s\n", p.c_str());
    }
  }

  static std::string JsonSamples(const std::vector<double>& ms) {
    if (ms.empty()) return "null";
    return absl::StrFormat(
        "{\"samples\":%zu,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
        "\"max_ms\":%.3f}",
        ms.size(), Percentile(ms, 50), Percentile(ms, 90), Percentile(ms, 99),
        ms.back());
  }

  void PrintJson() const {
    std::string out = "{\"command\":\"review\",";
    absl::StrAppendFormat(
        &out,
        "\"page_size\":%zu,\"pages\":%zu,\"chain\":%zu,\"warmup\":%zu,"
        "\"target\":%s,\"database\":%s,\"database_bytes\":%d,"
        "\"harkd_ready_seconds\":%.3f,",
        flags_.page_size, flags_.pages, flags_.chain, flags_.warmup,
        JsonString(target_), JsonString(db_), db_bytes_, start_seconds_);
    if (seed_.seeded) {
      const ReviewSeedResult& r = seed_.result;
      absl::StrAppendFormat(
          &out,
          "\"seed\":{\"seconds\":%.3f,\"responses_per_second\":%.1f,"
          "\"staged_in\":%s,\"copy_seconds\":%.3f,"
          "\"responses\":%d,\"users\":%d,\"matches\":%d,\"decisions\":%d,"
          "\"prompts\":%d,\"secondary_tagged\":%d,\"manual_tags\":%d,"
          "\"outcome_events\":%d},",
          r.seconds, static_cast<double>(r.responses) / r.seconds,
          seed_.staged ? JsonString(flags_.stage) : "null", copy_seconds_,
          r.responses, r.users, r.matches, r.decisions, r.prompts,
          r.secondary_tagged, r.manual_tags, r.outcome_events);
    } else {
      out += "\"seed\":null,";
    }
    absl::StrAppend(&out, "\"newest_response\":",
                    JsonString(absl::FormatTime(
                        absl::RFC3339_full, seed_.newest, absl::UTCTimeZone())),
                    ",\"series\":[");
    for (size_t i = 0; i < series_.size(); ++i) {
      const Series& s = series_[i];
      absl::StrAppendFormat(
          &out,
          "%s{\"label\":%s,\"name\":%s,\"first_page_rows\":%d,\"first\":%s,"
          "\"deep\":%s,\"chains\":%d,\"chains_ended\":%d,\"mismatches\":%d}",
          i == 0 ? "" : ",", JsonString(s.label), JsonString(s.name),
          s.first_rows, JsonSamples(s.first_ms), JsonSamples(s.deep_ms),
          s.chains, s.chains_ended, s.mismatches);
    }
    const std::vector<double> all = AllPageSamples();
    absl::StrAppend(&out, "],\"all_pages\":", JsonSamples(all),
                    ",\"pages_target_met\":",
                    !all.empty() && Percentile(all, 99) < 50 ? "true" : "false",
                    ",\"reports\":[");
    bool report_met = true;
    for (size_t i = 0; i < reports_.size(); ++i) {
      const ReportSeries& r = reports_[i];
      if (r.seconds.empty() || Percentile(r.seconds, 50) >= 2) {
        report_met = false;
      }
      absl::StrAppendFormat(&out, "%s{\"name\":%s,\"seconds\":[",
                            i == 0 ? "" : ",", JsonString(r.name));
      for (size_t k = 0; k < r.seconds.size(); ++k) {
        absl::StrAppendFormat(&out, "%s%.4f", k == 0 ? "" : ",", r.seconds[k]);
      }
      absl::StrAppendFormat(
          &out,
          "],\"median_seconds\":%.4f,\"max_seconds\":%.4f,\"responses\":%d,"
          "\"rules\":%d,\"weeks\":%d}",
          Percentile(r.seconds, 50), r.seconds.empty() ? 0.0 : r.seconds.back(),
          r.responses, r.rules, r.weeks);
    }
    absl::StrAppend(&out,
                    "],\"report_target_met\":", report_met ? "true" : "false",
                    ",\"problems\":[");
    for (size_t i = 0; i < problems_.size(); ++i) {
      absl::StrAppend(&out, i == 0 ? "" : ",", JsonString(problems_[i]));
    }
    out += "]}\n";
    std::fputs(out.c_str(), stdout);
  }

  const Flags& flags_;
  const ReviewHooks& hooks_;
  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<HarkdLauncher> harkd_;
  std::string db_;
  std::string key_;
  std::string target_;
  SeedInfo seed_;
  double start_seconds_ = 0;
  double copy_seconds_ = 0;
  uintmax_t db_bytes_ = 0;
  std::unique_ptr<hark::v1::Review::Stub> stub_;
  std::vector<Series> series_;
  std::vector<ReportSeries> reports_;
  std::vector<std::string> problems_;
};

}  // namespace

std::string ReviewUsage(const std::string& default_harkd) {
  return absl::StrFormat(kUsage, default_harkd, kDefaultRules);
}

int ReviewMain(int argc, char** argv, const ReviewHooks& hooks) {
  absl::StatusOr<Flags> flags = ParseFlags(argc, argv, hooks);
  if (!flags.ok()) {
    std::cerr << "hark-bench: " << flags.status().message()
              << "\nRun 'hark-bench review --help' for usage.\n";
    return 2;
  }
  Run run(*flags, hooks);
  return run.Main();
}

}  // namespace hark::bench
