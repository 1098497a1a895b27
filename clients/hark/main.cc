// hark: the command-line client of harkd.
//
// Exit codes: 0 success, 1 failure (transport, server, input), 2 usage error.

#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
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
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "clients/hark/csv.h"
#include "clients/hark/event_sender.h"
#include "clients/hark/format.h"
#include "clients/hark/key_file.h"
#include "clients/hark/match_lister.h"
#include "clients/hark/prompt_watcher.h"
#include "clients/hark/prompts_format.h"
#include "clients/hark/report_format.h"
#include "clients/hark/responses_format.h"
#include "clients/hark/review_args.h"
#include "clients/hark/review_client.h"
#include "clients/hark/rules_format.h"
#include "clients/hark/rules_offline.h"
#include "clients/hark/time_shift.h"
#include "clients/hark/values.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "hark/v1/admin.grpc.pb.h"
#include "hark/v1/ingest.grpc.pb.h"
#include "hark/v1/prompts.grpc.pb.h"
#include "hark/v1/review.grpc.pb.h"
#include "hark/v1/rules.grpc.pb.h"
#include "server/rules/rule_set.h"

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

constexpr char kMainHelp[] =
    R"(hark - send events to harkd, work on trigger rules, inspect matches,
prompts and a user's timeline, review the answers

Usage: hark [global options] <command> [arguments]

Commands:
  events send FILE.jsonl   Send behaviour events from a JSON Lines file
                           (--shift-to-now: replay it as if it just happened).
  users identify USER k=v  Set typed traits of a user.
  users delete USER        Remove everything harkd holds about USER.
  rules check DIR          Check the rule files in DIR (offline, no server).
  rules test DIR           Run the tests: blocks of the rule files (offline).
  rules apply DIR          Make harkd serve the rules in DIR (hot reload).
  rules list               Show the rules harkd is serving.
  matches                  Show recent matches of the rules, newest first.
  explain USER             Show USER's timeline: matched events, matches,
                           decisions and prompts (why they were asked or not).
  prompts USER             Fetch USER's due prompts (marks them delivered).
  prompts watch            Follow prompts as they become due (a stream).
  prompts shown ID         Report that a prompt was shown to its user.
  prompts dismissed ID     Report that the user dismissed a prompt.
  prompts answer ID        Answer a survey prompt by hand (--score, --choice,
                           --choices, --text).
  prompts interview ID S   Record an interview invitation's outcome.
  responses list           Show answers, newest first; filter by friction
                           type, rule, survey, time, trait, score, text.
  responses show ID        One answer with its trigger context and tags.
  responses tag ID TYPE    Re-tag an answer by hand (the history is kept).
  responses export FILE    Write answers to a CSV or JSON Lines file.
  report                   Per rule: from match to answer, friction types,
                           hypothesis mismatch, what users did next; trend.
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

Keys: 'events send', 'users identify' and the 'prompts' commands (answer
and interview too) use a key with role ingest (else admin); 'rules apply',
'rules list' and 'matches' one with role research (else admin); 'explain'
one with role research, else review, else admin; 'responses list', 'show',
'export' and 'report' one with role review, else research, else admin;
'responses tag' one with role review (else admin); 'users delete' and
'stats' need admin. 'rules check' and 'rules test' need neither a server
nor a key.

Exit status: 0 success, 1 failure, 2 usage error.

Examples:
  hark events send --shift-to-now examples/events.jsonl
  hark users identify u-42 plan=pro seats=5 trial=false zip:s=01234
  hark rules check rules/ && hark rules test rules/ && hark rules apply rules/
  hark matches --rule repeated_errors --limit 20
  hark explain u-42
  hark prompts watch --kind survey
  hark responses list --friction pricing --from 7d
  hark report --from 30d
  HARK_SERVER=hark.internal:50051 hark stats
)";

constexpr char kEventsSendHelp[] =
    R"(Usage: hark events send FILE.jsonl [--batch N] [--shift-to-now]

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

Options:
  --batch N        Events per call (default 500, at most 1000).
  --shift-to-now   For demos and for replaying recorded sessions, not for
                   real backfills (it changes when things happened): moves
                   every event's timestamp by the same amount so that the
                   latest one in FILE is now (to the second), keeping the
                   spacing between events. harkd matches by event time and
                   its watermark follows its clock, so events recorded
                   earlier arrive late, and count, sequence and absence
                   rules ignore late events. Events more than harkd's
                   --allowed-lateness (default 1m) before the latest one
                   are still late after the shift (hark prints a note then).
                   Only events that pass the local checks take part. Event
                   ids and property values (times in properties too) stay
                   as they are, so sending the file twice still gives
                   duplicates. FILE is read completely before anything is
                   sent.

Output: a progress bar on stderr when it is a terminal, then
  accepted N, duplicates N, rejected N
and one line per rejected event:
  line 12: event e-17: timestamp: <reason>
With --shift-to-now, first one line saying how far the times moved:
  shifted event times by +21d 2h 20m 18s: the latest event,
    2026-11-01T07:30:30Z, is now 2026-11-22T09:50:48Z

Exit status: 0 when harkd answered every batch, even if it rejected some
events (they are listed); 1 when a batch could not be sent (transport or
server failure) or FILE cannot be read - the batches before it were
stored, so fix the cause and run the same command again; 2 usage error.

Examples:
  hark events send examples/events.jsonl
  hark events send --shift-to-now examples/events.jsonl
  hark events send --batch 1000 big.jsonl
  my-exporter | hark events send -
)";

constexpr char kUsersHelp[] =
    R"(Usage: hark users identify USER KEY=VALUE [KEY=VALUE...]
       hark users delete USER [--yes]

'users identify' sets traits of a user (ingest key); 'users delete' removes
everything harkd holds about a user (admin key). Run 'hark users identify
--help' and 'hark users delete --help' for details.
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

constexpr char kRulesHelp[] = R"(Usage: hark rules <check|test|apply|list> ...

Trigger rules are YAML files in a folder (rules/ in the repository; format:
rules/README.md). The usual round:
  hark rules check rules/    every error with file:line:column (offline)
  hark rules test rules/     run the files' tests: blocks (offline)
  hark rules apply rules/    make harkd serve them, without a restart
  hark rules list            what harkd serves now
  hark matches               what the rules matched

Run 'hark rules check --help' (and so on) for each command.
)";

constexpr char kRulesCheckHelp[] = R"(Usage: hark rules check DIR

Checks every rule file (*.yaml and *.yml, also in subfolders) under DIR with
the loader harkd itself uses, without a server: unknown keys, wrong types,
bad durations, bad or ill-typed where: expressions, duplicate rule ids, a
missing within, ... Every error of every file is reported at once, as
DIR/FILE:LINE:COLUMN (most editors jump to such a position), the problem
and a hint, then a summary:
  rules/triggers.yaml:14:9: unknown key `withn` in a sequence
    hint: did you mean `within`?
  rules/triggers.yaml:25:61: `10 minutes` is not a duration (in `within`)
    hint: use a number and a unit: 30s, 10m, 2h, 14d (or combined: 1h30m)
  2 errors in 1 file
When the files load: "ok: 4 rules in 1 file".

Exit status: 0 when the rules load, 1 when there are errors or DIR cannot
be read, 2 usage error.

Examples:
  hark rules check rules/
  hark rules check ~/drafts/pricing-rules
)";

constexpr char kRulesTestHelp[] =
    R"(Usage: hark rules test DIR [--allowed-lateness DURATION]

Loads DIR like 'hark rules check' (errors are printed the same way and stop
here), then runs every tests: case of the files on harkd's matching engine,
without a server. Time in a test is a pseudo clock: 'at' is an offset from
the test's start, and a run gives the same result every time.
  tests:
    - name: abandons_after_30m
      events:
        - { at: "0s",  user: u1, event: onboarding_started }
        - { at: "31m", user: u2, event: page_view }
      expect: [ { rule: onboarding_abandonment, user: u1, at: "30m" } ]

Prints one line per test, and for a failed one the matches it expected and
the ones that happened ("missing": expected but did not happen; "not
expected": happened but not expected):
  PASS  rules/triggers.yaml: abandons_after_30m
  FAIL  rules/triggers.yaml: three_errors_same_code
        expected:
          repeated_errors u1 at=10m  (missing)
        actual:
          (none)
  1 passed, 1 failed

Options:
  --allowed-lateness DURATION  How late an event may arrive and still count,
                               as harkd's option of the same name (absence
                               rules fire this long after their deadline).
                               Default 1m.

Exit status: 0 when every test passed, 1 when one failed or the files have
errors, 2 usage error.

Examples:
  hark rules test rules/
  hark rules test rules/ --allowed-lateness 0s
)";

constexpr char kRulesApplyHelp[] = R"(Usage: hark rules apply DIR

Sends every rule file under DIR (*.yaml and *.yml, paths relative to DIR) to
harkd with Rules.ApplyRules, which replaces the rules it serves without a
restart. harkd checks the whole set first: if anything is wrong it refuses
it, keeps serving the rules it had, and hark prints the errors as 'hark
rules check' does. Once applied, rules whose pattern did not change keep
their state (open matches, deadlines); changed ones start fresh; removed
ones lose it. hark prints which is which:
  applied 4 rules from rules/
    added    cancellation
    kept     onboarding_abandonment, repeated_errors  (unchanged: state kept)
    reset    downgrade_after_upgrade  (pattern changed: state starts fresh)

Uses a key with role research (else admin). An empty DIR is refused here,
since applying it would remove every rule.

Exit status: 0 applied, 1 refused or failed, 2 usage error.

Examples:
  hark rules check rules/ && hark rules apply rules/
  hark --server hark.internal:50051 rules apply rules/
)";

constexpr char kRulesListHelp[] = R"(Usage: hark rules list

Shows the rules harkd is serving (Rules.GetRules): when and from where they
were loaded (a folder, or ApplyRules), then one line per rule with its id,
pattern kind (match, count, sequence), version (a hash of its pattern: it
changes exactly when the pattern does), friction hypothesis and file.
Uses a key with role research (else admin).

Example:
  hark rules list
)";

constexpr char kMatchesHelp[] =
    R"(Usage: hark matches [--rule RULE] [--user USER] [--limit N] [--format table|json]

Shows what the rules matched (Rules.ListMatches), newest first:
  TIME                  USER  RULE                     GROUP   EVENTS
  2026-11-03T10:12:40Z  u-7   repeated_errors          E4012   error×3
  2026-11-02T08:00:00Z  u-3   downgrade_after_upgrade  -       plan_changed(up) → plan_changed(down)
TIME is the moment of the match in UTC: the last event's time, or the
deadline of an absence rule. GROUP is the value of the rule's group_by
properties. EVENTS sums up the matched events: a name with ×N for N in a
row, a sequence step's alias in parentheses.

Options:
  --rule RULE          Only matches of this rule id.
  --user USER          Only matches of this user.
  --limit N            At most N matches (default 50).
  --format FORMAT      table (default) or json: one JSON object per line
                       per match, with every field (matched events and
                       their properties, the user's traits at the time),
                       for jq and scripts.

Uses a key with role research (else admin).

Examples:
  hark matches
  hark matches --rule repeated_errors --limit 200
  hark matches --user u-42 --format json | jq .rule_id
)";

constexpr char kExplainHelp[] =
    R"(Usage: hark explain USER [--format table|json]

Shows USER's timeline (Admin.Explain), oldest first: the events that
matched a rule, the matches, the decisions taken on them (a survey or
interview sent, or skipped and why: quiet hours, frequency caps, sampling,
...) and what happened to the prompts (delivered, shown, answered,
dismissed, expired). This answers "why was this user asked?" and "why
not?". Times are in UTC:
  Timeline of u-42 (4 entries, UTC)
  2026-11-22 10:31:05  event     error code="E4012"
  2026-11-22 10:31:05  match     rule repeated_errors matched for group E4012
  2026-11-22 10:31:05  decision  rule repeated_errors: sent survey ...
  2026-11-22 10:35:12  prompt    survey error_feedback: shown
Events that matched no rule are not part of it; a user with no match yet
has an empty timeline.

Options:
  --format FORMAT   table (default) or json: one JSON object per line per
                    entry (at, kind, summary and details such as event_id,
                    match_id, rule_id, prompt_id), for jq and scripts.

Uses a key with role research, else review, else admin.

Examples:
  hark explain u-42
  hark explain u-42 --format json | jq -r 'select(.kind=="decision") | .summary'
)";

constexpr char kPromptsHelp[] =
    R"(Usage: hark prompts USER [--limit N] [--format table|json]
       hark prompts watch [--cursor C] [--kind KIND]... [--max N]
       hark prompts shown PROMPT_ID
       hark prompts dismissed PROMPT_ID

Prompts are the surveys and interview invitations harkd schedules when a
rule matches. Product backends fetch them (or watch the stream), show them
and report back; these commands do the same by hand, for trying things out
and for checking a setup.

'hark prompts USER' fetches USER's prompts that are due now and not
expired (Prompts.GetPrompts), highest priority first. Note: like any
GetPrompts call, this marks them DELIVERED, as if a backend had fetched
them, so they are not handed out again; use 'hark explain USER' to look
without changing anything. Per prompt it prints its id, kind, state, rule,
definition (survey or interview id), title, due and expiry times, and the
questions (id, type, text, choices) of a survey or the booking link,
incentive and duration of an interview:
  1 prompt for u-42, now marked delivered

  survey p-8f2c  (delivered, priority 5)
    rule        repeated_errors
    definition  error_feedback
    title       Something keeps failing?
    due         2026-11-22 10:31:05 UTC
    expires     2026-11-29 10:31:05 UTC
    questions
      1. ease  ces 1-7, required
         How easy was it to get past error E4012?

Options:
  --limit N         At most N prompts (harkd's default 1, at most 10).
  --format FORMAT   table (default) or json: one JSON object per line per
                    prompt, with every field.

Uses a key with role ingest (else admin). Run 'hark prompts watch --help',
'hark prompts shown --help', 'hark prompts answer --help' and 'hark prompts
interview --help' for the other commands.

Examples:
  hark prompts u-42
  hark prompts u-42 --limit 10 --format json | jq .prompt_id
)";

constexpr char kPromptsWatchHelp[] =
    R"(Usage: hark prompts watch [--cursor C] [--kind survey|interview]... [--max N] [--format table|json]

Follows Prompts.WatchPrompts: prints every prompt as it becomes due, one
line each, until Ctrl-C (or --max):
  DUE (UTC)            CURSOR        USER          KIND       RULE                      TITLE
  2026-11-22 10:31:05  c-118         u-42          survey     repeated_errors           Something keeps failing?
CURSOR is the resume position: start again with --cursor and no prompt is
missed or repeated. Like GetPrompts, the stream marks the prompts it hands
out delivered (it is how backends that deliver through their own channels
receive them). When the stream breaks, hark prints the error and the cursor to resume
from, and exits with 1.

Options:
  --cursor C        Resume after this cursor (a prompt's CURSOR); without
                    it the stream starts from now.
  --kind KIND       Only prompts of this kind: survey or interview. Give it
                    twice for both (the default).
  --max N           Stop after N prompts (for scripts and tests).
  --format FORMAT   table (default) or json: one JSON object per line per
                    prompt, with every field.

Uses a key with role ingest (else admin).

Examples:
  hark prompts watch
  hark prompts watch --kind interview --cursor c-118
  hark prompts watch --max 1 --format json | jq .prompt_id
)";

constexpr char kPromptsEventHelp[] =
    R"(Usage: hark prompts shown PROMPT_ID
       hark prompts dismissed PROMPT_ID

Reports to harkd (Prompts.RecordPromptEvent) that a prompt was shown to its
user, or that the user dismissed it, and prints the prompt's new state:
  prompt p-8f2c is now shown
Product backends make this call; this command is for trying things out and
for fixing up by hand. Reporting the state a prompt already has is
accepted. A change that makes no sense (shown after dismissed, anything
after answered or expired, or before the prompt is due) is refused with
FAILED_PRECONDITION and the state is left as it was.

Uses a key with role ingest (else admin).

Exit status: 0 recorded, 1 refused or failed, 2 usage error.

Examples:
  hark prompts shown p-8f2c
  hark prompts dismissed p-8f2c
)";

constexpr char kPromptsAnswerHelp[] =
    R"(Usage: hark prompts answer PROMPT_ID [--score Q=N]... [--choice Q=ID]...
                           [--choices Q=ID,ID]... [--text Q=TEXT]...

Submits answers to a survey prompt (Prompts.SubmitResponse), as a product
backend does when its user answers: for trying the whole loop by hand. Each
option answers one question, named by its id (the ids 'hark prompts USER'
lists), in any order:
  --score Q=N        a rating (1-5), NPS (0-10) or CES (1-7) question
  --choice Q=ID      a single-choice question: the choice's id
  --choices Q=ID,ID  a multiple-choice question: choice ids, comma-separated
  --text Q=TEXT      a free-text question (quote TEXT for the shell)
harkd checks the answers against the survey (score ranges, choice ids,
required questions) and refuses the whole submission, with the reason, when
one does not fit. It then tags the answer by friction type: a choice mapped
to a type, else phrases of the taxonomy in the text, else the rule's
hypothesis. Sending the same answers again returns the stored response;
different answers to an answered prompt are refused.

Prints the response id and the friction type assigned:
  response r_00c0ffee00c0ffee stored for prompt p_00c0ffee00c0ffee; friction: pricing

Uses a key with role ingest (else admin).

Exit status: 0 stored, 1 refused or failed, 2 usage error.

Examples:
  hark prompts answer p_00c0ffee00c0ffee --score ease=2 --choice cause=billing
  hark prompts answer p_00c0ffee00c0ffee --choices tried=docs,chat \
      --text details="The invoice export failed twice"
)";

constexpr char kPromptsInterviewHelp[] =
    R"(Usage: hark prompts interview PROMPT_ID STATUS [--notes TEXT]

Records what became of an interview invitation (Prompts.RecordInterview).
STATUS is accepted, declined, booked, completed or no_show. The first status
creates the invitation's response; later ones move it along: accepted ->
booked -> completed or no_show, declined from accepted or booked, booked
again after no_show. Repeating the current status replaces its notes. The
notes of a completed interview are tagged by friction type like free-text
answers. Prints:
  interview p_0badcafe0badcafe: completed (response r_0badcafe0badcafe)

Options:
  --notes TEXT   The interviewer's notes (at most 16 KiB).

Uses a key with role ingest (else admin).

Exit status: 0 recorded, 1 refused or failed, 2 usage error.

Examples:
  hark prompts interview p_0badcafe0badcafe booked
  hark prompts interview p_0badcafe0badcafe completed \
      --notes "Seats are too expensive for a team of 3."
)";

constexpr char kUsersDeleteHelp[] = R"(Usage: hark users delete USER [--yes]

Removes everything harkd holds about USER (Admin.DeleteUser), in one
transaction: events, traits, matches, decisions, prompts, responses and
their tags. It cannot be undone. Prints the rows removed by table:
  deleted u-42: 1,211 rows
    events     1,204
    matches        3
    ...
  note: aggregates already reported are not rewritten: reports and exports
  made before still count u-42; later ones do not

Without --yes hark first asks you to type the user id. When standard input
is not a terminal (a script), it refuses without --yes.

Options:
  --yes   Delete without asking.

Needs a key with role admin.

Exit status: 0 deleted (or nothing held), 1 failed or not confirmed, 2 usage
error (also: no terminal to ask on and no --yes).

Examples:
  hark users delete u-42
  hark users delete u-42 --yes
)";

// The filter options of 'responses list', 'responses export' and 'report',
// put where their help texts say {filters} (see HelpFor).
constexpr char kFiltersHelp[] =
    R"(Filters (all optional; a response must pass every one given):
  --friction TYPE    primary friction type: product, process, pricing,
                     perception or unknown
  --any-tag          with --friction: any of the response's tags, not only
                     the primary one
  --source SOURCE    where the primary tag came from: choice (a choice
                     mapped to a type), text (phrases in the free text),
                     hypothesis (the rule's guess) or manual (a person)
  --rule RULE        answers to prompts of this rule
  --survey ID        answers to this survey (or interview) id
  --from TIME        submitted at or after TIME
  --to TIME          submitted before TIME
                     TIME: RFC 3339 (2026-11-01T09:30:00Z), a date
                     (2026-11-01: midnight UTC) or a time ago: 30m, 12h,
                     7d, 2w
  --trait KEY=VALUE  the user had this trait when the rule matched, e.g.
                     plan=pro (strings as they are, numbers like 5 or 2.5,
                     true/false)
  --score N|MIN-MAX  the first score answer is N, or within MIN-MAX (0-10)
  --text SUBSTRING   the free text or interview notes contain SUBSTRING
                     (ignoring the case of ASCII letters)
)";

constexpr char kResponsesHelp[] =
    R"(Usage: hark responses <list|show|tag|export> ...

The answers to surveys and interview invitations, tagged by friction type
(product, process, pricing, perception), for support leads and researchers:
  hark responses list --friction pricing --from 7d   what people said
  hark responses show r_00c0ffee00c0ffee              one answer in context
  hark responses tag r_00c0ffee00c0ffee process --note "billing page bug"
  hark responses export answers.csv --from 30d       for a spreadsheet
  hark report                                        the figures per rule

Run 'hark responses list --help' (and so on) for each command.
)";

constexpr char kResponsesListHelp[] =
    R"(Usage: hark responses list [filters] [--limit N] [--page-token T] [--all]
                          [--format table|json]

Shows the stored answers (Review.ListResponses), newest first, one line
each:
  ID                  SUBMITTED (UTC)   USER  RULE             FRICTION          SCORE  TEXT
  r_00c0ffee00c0ffee  2026-11-22 10:35  u-42  repeated_errors  pricing (choice)      2  The invoice export…
FRICTION is the primary friction type and, in parentheses, where it came
from: choice (the answer picked a choice mapped to a type), text (phrases
of the taxonomy in the free text), hypothesis (the rule's friction
hypothesis, when the answer said nothing more specific) or manual
(re-tagged by a person). SCORE is the first rating, NPS or CES answer. TEXT
is the free text on one line, else the answers (question=value), cut to
fit the terminal (100 columns when output is not a terminal); 'hark
responses show ID' prints all of it.

One page at a time; when there are more, a last line says how to go on:
  more: add --page-token r118 for the next page, or --all for every page

{filters}
Options:
  --limit N         Responses per page, 1 to 1000 (default 50).
  --page-token T    Continue after a previous page (the token it printed).
  --all             Every page, one after the other (the table is printed
                    once all have arrived; --format json prints as they
                    come).
  --format FORMAT   table (default) or json: one JSON object per line per
                    response, with every field, for jq and scripts.

Uses a key with role review, else research, else admin.

Exit status: 0 success (also when nothing matches), 1 failure, 2 usage
error.

Examples:
  hark responses list --friction pricing --from 7d
  hark responses list --rule repeated_errors --score 0-6 --trait plan=pro
  hark responses list --text invoice --all --format json | jq -r .response_id
)";

constexpr char kResponsesShowHelp[] =
    R"(Usage: hark responses show RESPONSE_ID [--format table|json]

Shows one answer with its context (Review.GetResponse): ids, user, rule,
survey or interview, when it was submitted (and last changed), an
interview's status and notes; every answer (question id and value); the
current friction tags, primary first, with their source (choice, text,
hypothesis, manual) and confidence (0-1); the tag history, oldest first,
with who tagged (harkd, or the reviewer's key name), when and why; the
match that caused the prompt: when, the events that triggered it with their
properties, and the user's traits at that moment. Times are in UTC.
  response r_00c0ffee00c0ffee  (survey)
    user        u-42
    rule        repeated_errors
    ...
  answers
    ease     2
    cause    billing
  tags (primary first)
    pricing (primary)  choice  0.90
  ...

Options:
  --format FORMAT   table (default) or json: the Response as one JSON
                    object with every field.

Uses a key with role review, else research, else admin.

Exit status: 0 success, 1 failure (NOT_FOUND for an unknown id), 2 usage
error.

Examples:
  hark responses show r_00c0ffee00c0ffee
  hark responses show r_00c0ffee00c0ffee --format json | jq .match.events
)";

constexpr char kResponsesTagHelp[] =
    R"(Usage: hark responses tag RESPONSE_ID TYPE [--note TEXT]

Re-tags an answer by hand (Review.TagResponse): TYPE (product, process,
pricing or perception) becomes its primary friction type, with source
"manual", your API key's name as who, and the note as why. The tags before
stay in the tag history ('hark responses show' lists it), and reports count
the new type from now on. Prints the new primary tag and the length of the
history:
  response r_00c0ffee00c0ffee is now tagged process (manual, by lead); 3 entries in its tag history

Options:
  --note TEXT   Why (at most 4 KiB); shown in the tag history.

Uses a key with role review (else admin): research keys read, but do not
re-tag.

Exit status: 0 tagged, 1 failure, 2 usage error.

Example:
  hark responses tag r_00c0ffee00c0ffee process --note "a bug in the billing page"
)";

constexpr char kResponsesExportHelp[] =
    R"(Usage: hark responses export FILE [filters] [--format csv|jsonl] [--no-bom]

Writes every answer that passes the filters (Review.ExportResponses) to
FILE ('-': standard output), newest first, each as it arrives, so exports of
any size use little memory. FILE is overwritten. The format follows FILE's
name (.jsonl or .ndjson: JSON Lines, anything else: CSV) unless --format
says otherwise. While it runs, a count on stderr when that is a terminal;
at the end, always on stderr:
  exported 1,204 responses to answers.csv

CSV, as RFC 4180 describes it, for spreadsheets: a header row, then one
row per response; UTF-8 text, CRLF line ends; a field with a comma, a
double quote or a line break is in double quotes, its quotes doubled. The
file starts with a UTF-8 byte order mark (BOM) so that Excel and other
spreadsheet programs read accents and emoji right; --no-bom leaves it out
for tools that do not expect one. Cells hold the customers' words as they
wrote them: a spreadsheet may read a text that starts with = + - or @ as a
formula. The columns:
  response_id, submitted_at (RFC 3339, UTC), user_id, rule_id,
  definition_id (the survey or interview), kind (survey or interview),
  friction (the primary type), friction_source (choice, text, hypothesis,
  manual), confidence (0-1), secondary_frictions (the other tags,
  ';'-separated), manually_tagged_by (the key name of a manual primary
  tag), score (the first score answer), answers (question_id=value joined
  by "; ", several choices comma-separated), text (the free-text answers
  and interview notes, one per line), interview_status, matched_at, traits
  (the user's traits at the match: key=value joined by "; ")
JSON Lines: one Response object per line with every field (proto field
names, as 'hark responses show --format json'), for jq and scripts.

{filters}
Options:
  --format FORMAT   csv or jsonl (default: from FILE's name, else csv).
  --no-bom          CSV without the byte order mark.

Uses a key with role review, else research, else admin.

Exit status: 0 exported, 1 failure (FILE then holds the responses that
came before it and is incomplete), 2 usage error.

Examples:
  hark responses export answers.csv --from 30d
  hark responses export pricing.jsonl --friction pricing --any-tag
  hark responses export - --rule cancellation --no-bom | head
)";

constexpr char kReportHelp[] =
    R"(Usage: hark report [filters] [--outcome EVENT] [--outcome-days N]
                   [--format table|csv|json] [--no-bom]

The figures per rule (Review.GetReport), as tables, each followed by one
line per figure saying what it means:
  - from match to answer: matches, prompts sent, delivered, shown,
    answered, response rate (answered / delivered);
  - what the answers said: the top friction types, and the hypothesis
    mismatch: the share of answers tagged otherwise than the rule's
    friction_hypothesis (high: the rule catches another problem than its
    author assumed);
  - what users did next: the share of matched users who sent the outcome
    event (default subscription_cancelled) within N days (default 30) of
    their first match, for those who answered vs those who did not:
    "12% of 50 vs 31% of 200";
  - the decisions by reason (sent, or why nobody was asked: cooldown,
    contact_cap, sampled_out, quota, lower_priority, shadow, stale,
    expired);
  - the friction types of all responses, and the weekly trend.
  Per rule: from match to answer
  RULE             HYPOTHESIS  MATCHES  SENT  DELIVERED  SHOWN  ANSWERED  RESPONSE RATE
  repeated_errors  product          80    40         30     24        12            40%
  ...
  RULE             TOP FRICTION                     HYPOTHESIS MISMATCH  OUTCOME: ANSWERED VS NOT
  repeated_errors  pricing 7, product 4, process 1  67% of 12            12% of 50 vs 31% of 200

{filters}--rule, --from and --to also narrow the matches, decisions and prompts
counted (by when they happened); the other filters narrow the responses.

Options:
  --outcome EVENT    The event that counts as what users did next (default
                     subscription_cancelled).
  --outcome-days N   Days after the first match to look for it, 1 to 365
                     (default 30).
  --format FORMAT    table (default); csv: one row per rule with every
                     number (rates as fractions, maps as columns
                     decisions_<reason> and friction_<type>), starting with
                     a UTF-8 byte order mark and with CRLF line ends, like
                     'hark responses export'; json: the Report as one JSON
                     object.
  --no-bom           CSV without the byte order mark.

Uses a key with role review, else research, else admin.

Exit status: 0 success, 1 failure, 2 usage error.

Examples:
  hark report --from 30d
  hark report --rule downgrade_after_upgrade --outcome plan_downgraded --outcome-days 14
  hark report --format csv > report.csv
)";

struct Args {
  std::string server;
  std::string key;
  std::string keys_file;
  std::optional<int> batch;
  bool shift_to_now = false;                       // events send
  std::optional<absl::Duration> allowed_lateness;  // rules test
  std::optional<std::string> rule;                 // matches
  std::optional<std::string> user;                 // matches
  std::optional<std::string> limit_text;           // matches, prompts
  std::optional<int> limit;                        // from limit_text
  std::optional<std::string> format;               // matches, explain, prompts
  std::optional<std::string> cursor;               // prompts watch
  std::vector<hark::v1::Prompt::Kind> kinds;       // prompts watch
  std::optional<int> max;                          // prompts watch
  // The options of the review and answer commands, in the order given:
  // filters, --score/--choice/--choices/--text answers, --page-token,
  // --note(s), --outcome(-days) and the flags --any-tag, --all, --no-bom,
  // --yes (value ""). Read by Option() and review_args.h.
  std::vector<OptionArg> options;
  bool help = false;
  bool version = false;
  std::vector<std::string> positional;
};

// Options whose value the command reads from Args::options.
constexpr absl::string_view kValuedOptions[] = {
    "friction", "source", "survey",  "from",         "to",
    "trait",    "score",  "text",    "choice",       "choices",
    "note",     "notes",  "outcome", "outcome-days", "page-token"};

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
    if (arg == "--shift-to-now") {
      args->shift_to_now = true;
      continue;
    }
    if (absl::StartsWith(arg, "--shift-to-now=")) {
      return UsageError{"--shift-to-now takes no value", "events send"};
    }
    if (arg == "--any-tag" || arg == "--all" || arg == "--no-bom" ||
        arg == "--yes") {
      args->options.push_back({arg.substr(2), ""});
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
    if (name == "any-tag" || name == "all" || name == "no-bom" ||
        name == "yes") {
      return UsageError{absl::StrCat("--", name, " takes no value"), ""};
    }
    const bool taken_as_is =
        std::find(std::begin(kValuedOptions), std::end(kValuedOptions), name) !=
        std::end(kValuedOptions);
    if (name != "server" && name != "key" && name != "keys-file" &&
        name != "batch" && name != "allowed-lateness" && name != "rule" &&
        name != "user" && name != "limit" && name != "format" &&
        name != "cursor" && name != "kind" && name != "max" && !taken_as_is) {
      return UsageError{absl::StrCat("unknown option --", name), ""};
    }
    if (!value.has_value()) {
      if (i + 1 >= argc) {
        return UsageError{absl::StrCat("--", name, " needs a value"), ""};
      }
      value = argv[++i];
    }
    if (taken_as_is) {
      args->options.push_back({name, *value});  // read by the command
    } else if (name == "server") {
      args->server = *value;
    } else if (name == "key") {
      args->key = *value;
    } else if (name == "keys-file") {
      args->keys_file = *value;
    } else if (name == "allowed-lateness") {
      absl::Duration d;
      if ((!rules::ParseRuleDuration(*value, &d) &&
           !absl::ParseDuration(*value, &d)) ||
          d < absl::ZeroDuration()) {
        return UsageError{
            absl::StrCat("--allowed-lateness must be a duration such as 30s, "
                         "1m or 2h, got '",
                         *value, "'"),
            "rules test"};
      }
      args->allowed_lateness = d;
    } else if (name == "rule") {
      args->rule = *value;
      args->options.push_back({name, *value});  // a filter too
    } else if (name == "user") {
      args->user = *value;
    } else if (name == "limit") {
      args->limit_text = *value;  // checked once the command is known
    } else if (name == "format") {
      args->format = *value;  // checked once the command is known
    } else if (name == "cursor") {
      args->cursor = *value;
    } else if (name == "kind") {
      if (*value == "survey") {
        args->kinds.push_back(hark::v1::Prompt::SURVEY);
      } else if (*value == "interview") {
        args->kinds.push_back(hark::v1::Prompt::INTERVIEW);
      } else {
        return UsageError{absl::StrCat("--kind must be survey or interview, "
                                       "got '",
                                       *value, "'"),
                          "prompts watch"};
      }
    } else if (name == "max") {
      int n = 0;
      if (!absl::SimpleAtoi(*value, &n) || n < 1 || n > 1'000'000) {
        return UsageError{
            absl::StrCat("--max must be a number from 1 to 1000000, got '",
                         *value, "'"),
            "prompts watch"};
      }
      args->max = n;
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

// ResolveKey, or nullopt after printing why there is no key.
std::optional<KeyChoice> KeyFor(
    const Args& args, std::initializer_list<absl::string_view> roles) {
  absl::StatusOr<KeyChoice> key = ResolveKey(args, roles);
  if (!key.ok()) {
    std::cerr << "hark: " << key.status().message() << "\n";
    return std::nullopt;
  }
  return *std::move(key);
}

absl::Status FromGrpc(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

void PrepareContext(grpc::ClientContext* context, const KeyChoice& key,
                    absl::Duration timeout = absl::Seconds(30)) {
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  context->AddMetadata("authorization", absl::StrCat("Bearer ", key.key));
}

// Calls the unary `method` on a new stub of `Service` with the key and a
// deadline. On failure prints "hark: <what>: ..." and a hint
// (PrintRpcError), and returns the status for hints of the command's own.
template <typename Service, typename Request, typename Response>
absl::Status CallUnary(const Args& args, const KeyChoice& key,
                       grpc::Status (Service::Stub::*method)(
                           grpc::ClientContext*, const Request&, Response*),
                       const Request& request, Response* response,
                       absl::string_view what, absl::string_view roles,
                       absl::Duration timeout = absl::Seconds(30)) {
  std::unique_ptr<typename Service::Stub> stub =
      Service::NewStub(MakeChannel(args.server));
  grpc::ClientContext context;
  PrepareContext(&context, key, timeout);
  const absl::Status status =
      FromGrpc((stub.get()->*method)(&context, request, response));
  if (!status.ok()) PrintRpcError(what, status, args, key, roles);
  return status;
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
  std::optional<KeyChoice> key = KeyFor(args, {"ingest", "admin"});
  if (!key.has_value()) return kExitFailure;

  auto stub = hark::v1::Ingest::NewStub(MakeChannel(args.server));
  SendOptions options;
  options.batch_size = args.batch.value_or(500);
  options.shift_to_now = args.shift_to_now;
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

  if (report.time_shift.has_value()) {
    std::cout << DescribeShift(*report.time_shift) << std::endl;
    // harkd's default --allowed-lateness; the CLI cannot know the server's.
    if (report.time_shift->latest - report.time_shift->earliest >
        absl::Minutes(1)) {
      std::cerr << "hark: note: the events span "
                << FormatShiftAmount(report.time_shift->latest -
                                     report.time_shift->earliest)
                       .substr(1)
                << ", so those more than harkd's --allowed-lateness "
                   "(default 1m) before the latest arrive late: count, "
                   "sequence and absence rules ignore them\n";
    }
  } else if (args.shift_to_now && report.failure.ok()) {
    std::cerr << "hark: --shift-to-now: no event has a timestamp; nothing "
                 "was shifted\n";
  }

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
  std::optional<KeyChoice> key = KeyFor(args, {"ingest", "admin"});
  if (!key.has_value()) return kExitFailure;
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
  std::optional<KeyChoice> key = KeyFor(args, {"admin"});
  if (!key.has_value()) return kExitFailure;
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

// The rules folder argument of `rules check|test|apply DIR`, or a usage
// error.
std::optional<UsageError> RuleDirArg(const Args& args, std::string* dir) {
  const std::string command = absl::StrCat("rules ", args.positional[1]);
  if (args.positional.size() != 3) {
    return UsageError{
        args.positional.size() < 3
            ? absl::StrCat(command,
                           " needs a DIR: the folder of rule files, "
                           "e.g. rules/")
            : absl::StrCat(command, " takes one DIR"),
        command};
  }
  *dir = args.positional[2];
  return std::nullopt;
}

int RulesCheck(const Args& args) {
  std::string dir;
  if (std::optional<UsageError> error = RuleDirArg(args, &dir)) {
    return Usage(*error);
  }
  return RunRulesCheck(dir, std::cout, std::cerr);
}

int RulesTest(const Args& args) {
  std::string dir;
  if (std::optional<UsageError> error = RuleDirArg(args, &dir)) {
    return Usage(*error);
  }
  return RunRulesTest(dir, args.allowed_lateness.value_or(absl::Minutes(1)),
                      std::cout, std::cerr);
}

int RulesApply(const Args& args) {
  std::string dir;
  if (std::optional<UsageError> error = RuleDirArg(args, &dir)) {
    return Usage(*error);
  }
  std::vector<rules::SourceFile> files;
  if (!ReadRuleFolder(dir, &files, std::cerr)) return kExitFailure;
  if (files.empty()) {
    std::cerr << "hark: no .yaml or .yml files under " << dir
              << "; not applying an empty rule set (it would remove every "
                 "rule)\n";
    return kExitFailure;
  }
  hark::v1::ApplyRulesRequest request;
  for (rules::SourceFile& file : files) {
    hark::v1::RuleFile* sent = request.add_files();
    sent->set_path(std::move(file.path));
    sent->set_content(std::move(file.content));
  }
  std::optional<KeyChoice> key = KeyFor(args, {"research", "admin"});
  if (!key.has_value()) return kExitFailure;
  auto stub = hark::v1::Rules::NewStub(MakeChannel(args.server));
  grpc::ClientContext context;
  PrepareContext(&context, *key);
  hark::v1::ApplyRulesResponse response;
  grpc::Status status = stub->ApplyRules(&context, request, &response);
  if (!status.ok()) {
    PrintRpcError(absl::StrCat("apply rules from ", dir), FromGrpc(status),
                  args, *key, "research or admin");
    return kExitFailure;
  }
  if (!response.applied()) {
    if (!response.errors().empty()) {
      const std::vector<hark::v1::RuleError> errors(response.errors().begin(),
                                                    response.errors().end());
      std::cout << FormatRuleErrors(errors, dir) << std::flush;
    }
    std::cerr << "hark: harkd refused the rules in " << dir
              << (response.errors().empty() ? " without giving a reason" : "")
              << "; it keeps serving the rules it had\n";
    return kExitFailure;
  }
  std::cout << FormatApplyResult(response, dir);
  return kExitOk;
}

int RulesList(const Args& args) {
  if (args.positional.size() != 2) {
    return Usage({"rules list takes no arguments", "rules list"});
  }
  std::optional<KeyChoice> key = KeyFor(args, {"research", "admin"});
  if (!key.has_value()) return kExitFailure;
  auto stub = hark::v1::Rules::NewStub(MakeChannel(args.server));
  grpc::ClientContext context;
  PrepareContext(&context, *key);
  hark::v1::GetRulesResponse response;
  grpc::Status status =
      stub->GetRules(&context, hark::v1::GetRulesRequest(), &response);
  if (!status.ok()) {
    PrintRpcError("list rules", FromGrpc(status), args, *key,
                  "research or admin");
    return kExitFailure;
  }
  std::cout << FormatRuleList(response);
  return kExitOk;
}

int Matches(const Args& args) {
  if (args.positional.size() != 1) {
    return Usage({"matches takes no arguments; filter with --rule and --user",
                  "matches"});
  }
  std::optional<KeyChoice> key = KeyFor(args, {"research", "admin"});
  if (!key.has_value()) return kExitFailure;
  auto stub = hark::v1::Rules::NewStub(MakeChannel(args.server));
  ListMatchesOptions options;
  options.rule_id = args.rule.value_or("");
  options.user_id = args.user.value_or("");
  options.limit = args.limit.value_or(50);
  options.authorization = absl::StrCat("Bearer ", key->key);
  ListMatchesResult result = ListMatches(*stub, options);

  const bool json = args.format.value_or("table") == "json";
  if (json) {
    google::protobuf::util::JsonPrintOptions print_options;
    print_options.preserve_proto_field_names = true;
    for (const hark::v1::Match& match : result.matches) {
      std::string line;
      auto printed = google::protobuf::util::MessageToJsonString(match, &line,
                                                                 print_options);
      if (!printed.ok()) {
        std::cerr << "hark: cannot print match " << match.match_id()
                  << " as JSON: " << printed.message() << "\n";
        return kExitFailure;
      }
      std::cout << line << "\n";
    }
    std::cout << std::flush;
  } else if (result.failure.ok() || !result.matches.empty()) {
    std::cout << FormatMatchTable(result.matches) << std::flush;
  }
  if (!result.failure.ok()) {
    PrintRpcError("list matches", result.failure, args, *key,
                  "research or admin");
    if (!result.matches.empty()) {
      std::cerr << "  note: the " << result.matches.size()
                << " matches above arrived before the failure\n";
    }
    return kExitFailure;
  }
  if (result.more) {
    (json ? std::cerr : std::cout)
        << (json ? "hark: " : "") << "showing the newest "
        << result.matches.size()
        << (result.matches.size() == 1 ? " match" : " matches")
        << "; there are more (raise --limit)\n";
  }
  return kExitOk;
}

// Prints each message as one line of JSON; false (after saying so on
// stderr) when one cannot be printed.
template <typename Message>
bool PrintJsonLines(const std::vector<Message>& messages,
                    absl::string_view what) {
  for (const Message& message : messages) {
    absl::StatusOr<std::string> line = JsonLine(message);
    if (!line.ok()) {
      std::cerr << "hark: " << what << ": " << line.status().message() << "\n";
      return false;
    }
    std::cout << *line << "\n";
  }
  std::cout << std::flush;
  return true;
}

int Explain(const Args& args) {
  if (args.positional.size() != 2) {
    return Usage({args.positional.size() < 2 ? "explain needs a USER"
                                             : "explain takes one USER",
                  "explain"});
  }
  const std::string& user = args.positional[1];
  std::optional<KeyChoice> key = KeyFor(args, {"research", "review", "admin"});
  if (!key.has_value()) return kExitFailure;
  auto stub = hark::v1::Admin::NewStub(MakeChannel(args.server));
  grpc::ClientContext context;
  PrepareContext(&context, *key);
  hark::v1::ExplainRequest request;
  request.set_user_id(user);
  hark::v1::ExplainResponse response;
  grpc::Status status = stub->Explain(&context, request, &response);
  if (!status.ok()) {
    PrintRpcError(absl::StrCat("explain ", user), FromGrpc(status), args, *key,
                  "research, review or admin");
    return kExitFailure;
  }
  const std::vector<hark::v1::TimelineEntry> entries(response.entries().begin(),
                                                     response.entries().end());
  if (args.format.value_or("table") == "json") {
    if (!PrintJsonLines(entries, "cannot print a timeline entry")) {
      return kExitFailure;
    }
    if (entries.empty()) {
      std::cerr << "hark: no events matched a rule for " << user << " yet\n";
    }
    return kExitOk;
  }
  std::cout << FormatTimeline(user, entries);
  return kExitOk;
}

int PromptsGet(const Args& args) {
  if (args.positional.size() != 2) {
    return Usage(
        {"prompts takes one USER (or: prompts watch, prompts shown "
         "ID, prompts dismissed ID)",
         "prompts"});
  }
  const std::string& user = args.positional[1];
  std::optional<KeyChoice> key = KeyFor(args, {"ingest", "admin"});
  if (!key.has_value()) return kExitFailure;
  auto stub = hark::v1::Prompts::NewStub(MakeChannel(args.server));
  grpc::ClientContext context;
  PrepareContext(&context, *key);
  hark::v1::GetPromptsRequest request;
  request.set_user_id(user);
  if (args.limit.has_value()) request.set_limit(*args.limit);
  hark::v1::GetPromptsResponse response;
  grpc::Status status = stub->GetPrompts(&context, request, &response);
  if (!status.ok()) {
    PrintRpcError(absl::StrCat("get prompts of ", user), FromGrpc(status), args,
                  *key, "ingest or admin");
    return kExitFailure;
  }
  const std::vector<hark::v1::Prompt> prompts(response.prompts().begin(),
                                              response.prompts().end());
  if (args.format.value_or("table") == "json") {
    if (!PrintJsonLines(prompts, "cannot print a prompt")) return kExitFailure;
    if (prompts.empty()) {
      std::cerr << "hark: no prompts due for " << user << " now\n";
    }
    return kExitOk;
  }
  std::cout << FormatPrompts(user, prompts);
  return kExitOk;
}

int PromptsWatch(const Args& args) {
  if (args.positional.size() != 2) {
    return Usage({"prompts watch takes no arguments; filter with --kind",
                  "prompts watch"});
  }
  std::optional<KeyChoice> key = KeyFor(args, {"ingest", "admin"});
  if (!key.has_value()) return kExitFailure;
  auto stub = hark::v1::Prompts::NewStub(MakeChannel(args.server));
  WatchPromptsOptions options;
  options.after_cursor = args.cursor.value_or("");
  options.kinds = args.kinds;
  options.max_prompts = args.max.value_or(0);
  options.authorization = absl::StrCat("Bearer ", key->key);
  const bool json = args.format.value_or("table") == "json";
  bool print_failed = false;
  if (!json) std::cout << PromptWatchHeader() << std::flush;
  WatchPromptsResult result =
      WatchPrompts(*stub, options, [&](const hark::v1::Prompt& prompt) {
        if (json) {
          absl::StatusOr<std::string> line = JsonLine(prompt);
          if (!line.ok()) {
            std::cerr << "hark: cannot print prompt " << prompt.prompt_id()
                      << ": " << line.status().message() << "\n";
            print_failed = true;
            return;
          }
          std::cout << *line << "\n" << std::flush;
        } else {
          std::cout << FormatPromptWatchLine(prompt) << std::flush;
        }
      });
  const std::string resume =
      result.last_cursor.empty()
          ? std::string()
          : absl::StrCat("; resume with --cursor ", result.last_cursor);
  if (!result.failure.ok()) {
    PrintRpcError("watch prompts", result.failure, args, *key,
                  "ingest or admin");
    if (result.failure.code() == absl::StatusCode::kInvalidArgument &&
        args.cursor.has_value() && result.received == 0) {
      std::cerr << "  hint: --cursor takes a CURSOR that 'hark prompts "
                   "watch' printed; leave it out to start from now\n";
    }
    if (result.received > 0) {
      std::cerr << "  note: the stream stopped after " << result.received
                << (result.received == 1 ? " prompt" : " prompts") << resume
                << "\n";
    }
    return kExitFailure;
  }
  if (result.ended_by_server) {
    std::cerr << "hark: harkd ended the stream after " << result.received
              << (result.received == 1 ? " prompt" : " prompts") << resume
              << "\n";
  }
  return print_failed ? kExitFailure : kExitOk;
}

int PromptsEvent(const Args& args) {
  const std::string command = absl::StrCat("prompts ", args.positional[1]);
  if (args.positional.size() != 3) {
    return Usage({args.positional.size() < 3
                      ? absl::StrCat(command, " needs a PROMPT_ID")
                      : absl::StrCat(command, " takes one PROMPT_ID"),
                  command});
  }
  const bool shown = args.positional[1] == "shown";
  const std::string& prompt_id = args.positional[2];
  std::optional<KeyChoice> key = KeyFor(args, {"ingest", "admin"});
  if (!key.has_value()) return kExitFailure;
  auto stub = hark::v1::Prompts::NewStub(MakeChannel(args.server));
  grpc::ClientContext context;
  PrepareContext(&context, *key);
  hark::v1::RecordPromptEventRequest request;
  request.set_prompt_id(prompt_id);
  request.set_type(shown ? hark::v1::RecordPromptEventRequest::SHOWN
                         : hark::v1::RecordPromptEventRequest::DISMISSED);
  hark::v1::RecordPromptEventResponse response;
  grpc::Status status = stub->RecordPromptEvent(&context, request, &response);
  if (!status.ok()) {
    const absl::Status failure = FromGrpc(status);
    PrintRpcError(
        absl::StrCat("mark prompt ", prompt_id, " ", args.positional[1]),
        failure, args, *key, "ingest or admin");
    if (failure.code() == absl::StatusCode::kFailedPrecondition) {
      std::cerr << "  hint: the prompt's state does not allow this (shown "
                   "after dismissed, anything after answered or expired, or "
                   "before it is due); nothing was changed. 'hark explain "
                   "USER' shows its history\n";
    } else if (failure.code() == absl::StatusCode::kNotFound) {
      std::cerr << "  hint: prompt ids come from 'hark prompts USER' or "
                   "'hark prompts watch'\n";
    }
    return kExitFailure;
  }
  std::cout << FormatPromptEventResult(prompt_id, response);
  return kExitOk;
}

// The value of the last --NAME among the command's options (Args::options),
// "" for a flag; nullptr when not given.
const std::string* Option(const Args& args, absl::string_view name) {
  const std::string* value = nullptr;
  for (const OptionArg& o : args.options) {
    if (o.name == name) value = &o.value;
  }
  return value;
}

// Columns of the terminal on standard output; 100 when it is not one.
size_t OutputColumns() {
  struct winsize size;
  if (isatty(STDOUT_FILENO) == 1 &&
      ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) {
    return size.ws_col;
  }
  return 100;
}

// The filter options of `command` (review_args.h), or a usage error.
std::optional<UsageError> FilterArg(const Args& args,
                                    const std::string& command,
                                    hark::v1::ResponseFilter* filter) {
  absl::StatusOr<hark::v1::ResponseFilter> parsed =
      ParseResponseFilter(args.options, absl::Now());
  if (!parsed.ok()) {
    return UsageError{std::string(parsed.status().message()), command};
  }
  *filter = std::move(*parsed);
  return std::nullopt;
}

// Reading the review API.
constexpr char kReviewReaders[] = "review, research or admin";

// A hint for NOT_FOUND on a response id.
void HintResponseIds(const absl::Status& failure) {
  if (failure.code() == absl::StatusCode::kNotFound) {
    std::cerr << "  hint: response ids are the ID column of 'hark responses "
                 "list'\n";
  }
}

int ResponsesList(const Args& args) {
  if (args.positional.size() != 2) {
    return Usage(
        {"responses list takes no arguments; filter with options "
         "such as --friction and --from",
         "responses list"});
  }
  hark::v1::ListResponsesRequest request;
  if (std::optional<UsageError> error =
          FilterArg(args, "responses list", request.mutable_filter())) {
    return Usage(*error);
  }
  request.set_page_size(static_cast<uint32_t>(args.limit.value_or(50)));
  const std::string* page_token = Option(args, "page-token");
  if (page_token != nullptr) request.set_page_token(*page_token);
  std::optional<KeyChoice> key = KeyFor(args, {"review", "research", "admin"});
  if (!key.has_value()) return kExitFailure;
  auto stub = hark::v1::Review::NewStub(MakeChannel(args.server));
  const bool json = args.format.value_or("table") == "json";
  std::vector<hark::v1::Response> rows;
  size_t printed = 0;  // JSON lines
  bool print_failed = false;
  const ListResult result = ListResponsePages(
      *stub, request, Option(args, "all") != nullptr,
      absl::StrCat("Bearer ", key->key),
      [&](const hark::v1::ListResponsesResponse& page) {
        if (!json) {
          rows.insert(rows.end(), page.responses().begin(),
                      page.responses().end());
          return;
        }
        const std::vector<hark::v1::Response> responses(
            page.responses().begin(), page.responses().end());
        if (PrintJsonLines(responses, "cannot print a response")) {
          printed += responses.size();
        } else {
          print_failed = true;
        }
      });
  if (!json && (result.failure.ok() || !rows.empty())) {
    std::cout << FormatResponseTable(rows, OutputColumns()) << std::flush;
  }
  if (!result.failure.ok()) {
    PrintRpcError("list responses", result.failure, args, *key, kReviewReaders);
    if (result.pages > 0) {
      std::cerr << "  note: the pages above arrived before the failure; "
                   "resume with --page-token "
                << result.next_page_token << "\n";
    }
    return kExitFailure;
  }
  if (!result.next_page_token.empty()) {
    (json ? std::cerr << "hark: " : std::cout)
        << NextPageHint(result.next_page_token);
  } else if (json && printed == 0) {
    std::cerr << "hark: no responses match\n";
  }
  return print_failed ? kExitFailure : kExitOk;
}

int ResponsesShow(const Args& args) {
  if (args.positional.size() != 3) {
    return Usage({args.positional.size() < 3
                      ? "responses show needs a RESPONSE_ID"
                      : "responses show takes one RESPONSE_ID",
                  "responses show"});
  }
  const std::string& id = args.positional[2];
  std::optional<KeyChoice> key = KeyFor(args, {"review", "research", "admin"});
  if (!key.has_value()) return kExitFailure;
  hark::v1::GetResponseRequest request;
  request.set_response_id(id);
  hark::v1::Response response;
  if (absl::Status s = CallUnary<hark::v1::Review>(
          args, *key, &hark::v1::Review::Stub::GetResponse, request, &response,
          absl::StrCat("show response ", id), kReviewReaders);
      !s.ok()) {
    HintResponseIds(s);
    return kExitFailure;
  }
  if (args.format.value_or("table") == "json") {
    return PrintJsonLines(std::vector<hark::v1::Response>{response},
                          "cannot print the response")
               ? kExitOk
               : kExitFailure;
  }
  std::cout << FormatResponse(response);
  return kExitOk;
}

int ResponsesTag(const Args& args) {
  if (args.positional.size() != 4) {
    return Usage({args.positional.size() < 4
                      ? "responses tag needs a RESPONSE_ID and a friction "
                        "TYPE (product, process, pricing or perception)"
                      : "responses tag takes a RESPONSE_ID and a TYPE; put "
                        "a note in --note \"...\"",
                  "responses tag"});
  }
  const std::string& id = args.positional[2];
  if (absl::Status s = CheckTagFriction(args.positional[3]); !s.ok()) {
    return Usage({std::string(s.message()), "responses tag"});
  }
  std::optional<KeyChoice> key = KeyFor(args, {"review", "admin"});
  if (!key.has_value()) return kExitFailure;
  hark::v1::TagResponseRequest request;
  request.set_response_id(id);
  request.set_friction(args.positional[3]);
  if (const std::string* note = Option(args, "note")) request.set_note(*note);
  hark::v1::Response response;
  if (absl::Status s = CallUnary<hark::v1::Review>(
          args, *key, &hark::v1::Review::Stub::TagResponse, request, &response,
          absl::StrCat("tag response ", id), "review or admin");
      !s.ok()) {
    HintResponseIds(s);
    return kExitFailure;
  }
  std::cout << FormatTagResult(response);
  return kExitOk;
}

int ResponsesExport(const Args& args) {
  if (args.positional.size() != 3) {
    return Usage({args.positional.size() < 3
                      ? "responses export needs a FILE ('-' for standard "
                        "output)"
                      : "responses export takes one FILE",
                  "responses export"});
  }
  const std::string& path = args.positional[2];
  hark::v1::ExportResponsesRequest request;
  if (std::optional<UsageError> error =
          FilterArg(args, "responses export", request.mutable_filter())) {
    return Usage(*error);
  }
  const ExportFormat format =
      args.format.has_value() ? (*args.format == "jsonl" ? ExportFormat::kJsonl
                                                         : ExportFormat::kCsv)
                              : ExportFormatForPath(path);
  const bool bom = Option(args, "no-bom") == nullptr;
  if (!bom && format != ExportFormat::kCsv) {
    return Usage(
        {"--no-bom only applies to CSV; JSON Lines has no byte "
         "order mark",
         "responses export"});
  }
  std::optional<KeyChoice> key = KeyFor(args, {"review", "research", "admin"});
  if (!key.has_value()) return kExitFailure;
  const std::string shown_path = path == "-" ? "standard output" : path;
  std::ofstream file;
  if (path != "-") {
    file.open(path, std::ios::binary | std::ios::trunc);
    if (!file) {
      std::cerr << "hark: cannot write " << path << ": " << std::strerror(errno)
                << "\n";
      return kExitFailure;
    }
  }
  std::ostream& out = path == "-" ? std::cout : file;
  ResponseWriter writer(&out, format, bom);
  const bool show_progress = isatty(STDERR_FILENO) == 1;
  absl::Time last_progress = absl::InfinitePast();
  int64_t written = 0;
  absl::Status failure = writer.Begin();
  bool writing_failed = !failure.ok();  // else harkd or the transport failed
  if (failure.ok()) {
    auto stub = hark::v1::Review::NewStub(MakeChannel(args.server));
    const ExportResult result = ExportResponses(
        *stub, request, absl::StrCat("Bearer ", key->key),
        [&](const hark::v1::Response& response) {
          if (absl::Status s = writer.Write(response); !s.ok()) {
            writing_failed = true;
            return s;
          }
          ++written;
          if (show_progress &&
              absl::Now() - last_progress >= absl::Milliseconds(200)) {
            last_progress = absl::Now();
            std::cerr << "\r" << WithThousands(written) << " responses"
                      << std::flush;
          }
          return absl::OkStatus();
        });
    if (show_progress && last_progress != absl::InfinitePast()) {
      std::cerr << "\r\033[K" << std::flush;
    }
    failure = result.failure;
  }
  out.flush();
  if (path != "-") file.close();
  if (failure.ok() && !out.good()) {
    failure = absl::DataLossError(
        absl::StrCat("writing failed: ", std::strerror(errno)));
    writing_failed = true;
  }
  const std::string summary = absl::StrCat(
      "exported ", WithThousands(written),
      written == 1 ? " response" : " responses", " to ", shown_path);
  if (!failure.ok()) {
    if (writing_failed) {
      std::cerr << "hark: " << shown_path << ": " << failure.message() << "\n";
    } else {
      PrintRpcError("export responses", failure, args, *key, kReviewReaders);
    }
    std::cerr << "hark: " << summary << " before the failure; "
              << (path == "-" ? "the output" : path) << " is incomplete\n";
    return kExitFailure;
  }
  std::cerr << summary << "\n";
  return kExitOk;
}

int Report(const Args& args) {
  if (args.positional.size() != 1) {
    return Usage(
        {"report takes no arguments; filter with options such as "
         "--rule and --from",
         "report"});
  }
  hark::v1::GetReportRequest request;
  if (std::optional<UsageError> error =
          FilterArg(args, "report", request.mutable_filter())) {
    return Usage(*error);
  }
  if (const std::string* outcome = Option(args, "outcome")) {
    request.set_outcome_event(*outcome);
  }
  if (const std::string* days = Option(args, "outcome-days")) {
    uint32_t n = 0;
    if (!absl::SimpleAtoi(*days, &n) || n < 1 || n > 365) {
      return Usage({absl::StrCat("--outcome-days must be a number from 1 to "
                                 "365, got '",
                                 *days, "'"),
                    "report"});
    }
    request.set_outcome_days(n);
  }
  const std::string format = args.format.value_or("table");
  if (Option(args, "no-bom") != nullptr && format != "csv") {
    return Usage({"--no-bom only applies to --format csv", "report"});
  }
  std::optional<KeyChoice> key = KeyFor(args, {"review", "research", "admin"});
  if (!key.has_value()) return kExitFailure;
  hark::v1::Report report;
  // The outcome linkage reads the event log from start to end.
  if (!CallUnary<hark::v1::Review>(
           args, *key, &hark::v1::Review::Stub::GetReport, request, &report,
           "report", kReviewReaders, absl::Minutes(10))
           .ok()) {
    return kExitFailure;
  }
  if (format == "json") {
    return PrintJsonLines(std::vector<hark::v1::Report>{report},
                          "cannot print the report")
               ? kExitOk
               : kExitFailure;
  }
  if (format == "csv") {
    if (Option(args, "no-bom") == nullptr) std::cout << kUtf8Bom;
    for (const std::vector<std::string>& row : ReportCsvRows(report)) {
      std::cout << CsvRecord(row);
    }
    std::cout << std::flush;
    return kExitOk;
  }
  std::cout << FormatReport(report);
  return kExitOk;
}

int UsersDelete(const Args& args) {
  if (args.positional.size() != 3) {
    return Usage({args.positional.size() < 3 ? "users delete needs a USER"
                                             : "users delete takes one USER",
                  "users delete"});
  }
  const std::string& user = args.positional[2];
  const bool yes = Option(args, "yes") != nullptr;
  if (!yes && isatty(STDIN_FILENO) != 1) {
    return Usage(
        {"users delete asks to confirm on a terminal, and standard "
         "input is not one; pass --yes to delete without asking",
         "users delete"});
  }
  std::optional<KeyChoice> key = KeyFor(args, {"admin"});
  if (!key.has_value()) return kExitFailure;
  if (!yes) {
    std::cerr << "This removes everything harkd at " << args.server
              << " holds about " << user
              << " (events, traits, matches, decisions, prompts, responses "
                 "and tags); it cannot be undone.\nType the user id to "
                 "confirm: "
              << std::flush;
    std::string typed;
    if (!std::getline(std::cin, typed) || typed != user) {
      std::cerr << "hark: not confirmed; nothing was deleted\n";
      return kExitFailure;
    }
  }
  hark::v1::DeleteUserRequest request;
  request.set_user_id(user);
  hark::v1::DeleteUserResponse response;
  // Deleting scans the event log, which is not indexed by user.
  if (!CallUnary<hark::v1::Admin>(
           args, *key, &hark::v1::Admin::Stub::DeleteUser, request, &response,
           absl::StrCat("delete ", user), "admin", absl::Minutes(10))
           .ok()) {
    return kExitFailure;
  }
  std::cout << FormatDeleteUserResult(user, response);
  return kExitOk;
}

int PromptsAnswer(const Args& args) {
  if (args.positional.size() != 3) {
    return Usage({args.positional.size() < 3
                      ? "prompts answer needs a PROMPT_ID"
                      : "prompts answer takes one PROMPT_ID; give answers as "
                        "options: --score Q=N, --choice Q=ID, --choices "
                        "Q=ID,ID, --text Q=TEXT",
                  "prompts answer"});
  }
  const std::string& prompt_id = args.positional[2];
  absl::StatusOr<std::vector<hark::v1::Answer>> answers =
      ParseAnswerArgs(args.options);
  if (!answers.ok()) {
    return Usage({std::string(answers.status().message()), "prompts answer"});
  }
  std::optional<KeyChoice> key = KeyFor(args, {"ingest", "admin"});
  if (!key.has_value()) return kExitFailure;
  hark::v1::SubmitResponseRequest request;
  request.set_prompt_id(prompt_id);
  for (hark::v1::Answer& a : *answers) *request.add_answers() = std::move(a);
  hark::v1::SubmitResponseResponse response;
  if (absl::Status s = CallUnary<hark::v1::Prompts>(
          args, *key, &hark::v1::Prompts::Stub::SubmitResponse, request,
          &response, absl::StrCat("answer prompt ", prompt_id),
          "ingest or admin");
      !s.ok()) {
    if (s.code() == absl::StatusCode::kNotFound) {
      std::cerr << "  hint: prompt ids come from 'hark prompts USER' or "
                   "'hark prompts watch'\n";
    }
    return kExitFailure;
  }
  std::cout << FormatSubmitResult(prompt_id, response);
  return kExitOk;
}

int PromptsInterview(const Args& args) {
  if (args.positional.size() != 4) {
    return Usage({args.positional.size() < 4
                      ? "prompts interview needs a PROMPT_ID and a STATUS "
                        "(accepted, declined, booked, completed or no_show)"
                      : "prompts interview takes a PROMPT_ID and a STATUS; "
                        "put notes in --notes \"...\"",
                  "prompts interview"});
  }
  const std::string& prompt_id = args.positional[2];
  const std::string& status_name = args.positional[3];
  absl::StatusOr<hark::v1::RecordInterviewRequest::Status> interview_status =
      ParseInterviewStatus(status_name);
  if (!interview_status.ok()) {
    return Usage({std::string(interview_status.status().message()),
                  "prompts interview"});
  }
  std::optional<KeyChoice> key = KeyFor(args, {"ingest", "admin"});
  if (!key.has_value()) return kExitFailure;
  hark::v1::RecordInterviewRequest request;
  request.set_prompt_id(prompt_id);
  request.set_status(*interview_status);
  if (const std::string* notes = Option(args, "notes")) {
    request.set_notes(*notes);
  }
  hark::v1::RecordInterviewResponse response;
  if (!CallUnary<hark::v1::Prompts>(
           args, *key, &hark::v1::Prompts::Stub::RecordInterview, request,
           &response, absl::StrCat("record interview ", prompt_id),
           "ingest or admin")
           .ok()) {
    return kExitFailure;
  }
  std::cout << FormatInterviewResult(prompt_id, status_name, response);
  return kExitOk;
}

// `help` with kFiltersHelp in place of "{filters}". The result lives until
// the program ends.
const char* WithFilters(const char* help) {
  static auto* const filled = new std::map<const char*, std::string>();
  auto [it, inserted] = filled->try_emplace(help);
  if (inserted) {
    it->second = absl::StrReplaceAll(help, {{"{filters}", kFiltersHelp}});
  }
  return it->second.c_str();
}

// The help text for a command given as words ("events", "send"); nullptr
// for an unknown command.
const char* HelpFor(const std::vector<std::string>& words) {
  const std::string command = absl::StrJoin(words, " ");
  if (command.empty()) return kMainHelp;
  if (command == "events send" || command == "events") return kEventsSendHelp;
  if (command == "users") return kUsersHelp;
  if (command == "users identify") return kUsersIdentifyHelp;
  if (command == "users delete") return kUsersDeleteHelp;
  if (command == "responses") return kResponsesHelp;
  if (command == "responses list") return WithFilters(kResponsesListHelp);
  if (command == "responses show") return kResponsesShowHelp;
  if (command == "responses tag") return kResponsesTagHelp;
  if (command == "responses export") {
    return WithFilters(kResponsesExportHelp);
  }
  if (command == "report") return WithFilters(kReportHelp);
  if (command == "prompts answer") return kPromptsAnswerHelp;
  if (command == "prompts interview") return kPromptsInterviewHelp;
  if (command == "stats") return kStatsHelp;
  if (command == "rules") return kRulesHelp;
  if (command == "rules check") return kRulesCheckHelp;
  if (command == "rules test") return kRulesTestHelp;
  if (command == "rules apply") return kRulesApplyHelp;
  if (command == "rules list") return kRulesListHelp;
  if (command == "matches") return kMatchesHelp;
  if (command == "explain") return kExplainHelp;
  if (command == "prompts") return kPromptsHelp;
  if (command == "prompts watch") return kPromptsWatchHelp;
  if (command == "prompts shown" || command == "prompts dismissed") {
    return kPromptsEventHelp;
  }
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
  // Options that belong to one command.
  const auto given = [&args](absl::string_view name) {
    return Option(args, name) != nullptr;
  };
  const std::vector<std::string> kFiltered = {"responses list",
                                              "responses export", "report"};
  // `prompts USER` is "prompts"; its subcommands are named by two words.
  const bool prompts_subcommand =
      pos[0] == "prompts" && pos.size() >= 2 &&
      (pos[1] == "watch" || pos[1] == "shown" || pos[1] == "dismissed" ||
       pos[1] == "answer" || pos[1] == "interview");
  const std::string command =
      pos.size() >= 2 &&
              (pos[0] == "events" || pos[0] == "users" || pos[0] == "rules" ||
               pos[0] == "responses" || prompts_subcommand)
          ? absl::StrCat(pos[0], " ", pos[1])
          : pos[0];
  const struct {
    bool given;
    const char* option;
    std::vector<std::string> commands;  // that take it
  } scoped[] = {
      {args.batch.has_value(), "--batch", {"events send"}},
      {args.shift_to_now, "--shift-to-now", {"events send"}},
      {args.allowed_lateness.has_value(), "--allowed-lateness", {"rules test"}},
      {args.rule.has_value(),
       "--rule",
       {"matches", "responses list", "responses export", "report"}},
      {args.user.has_value(), "--user", {"matches"}},
      {args.limit_text.has_value(),
       "--limit",
       {"matches", "prompts", "responses list"}},
      {args.format.has_value(),
       "--format",
       {"matches", "explain", "prompts", "prompts watch", "responses list",
        "responses show", "responses export", "report"}},
      {args.cursor.has_value(), "--cursor", {"prompts watch"}},
      {!args.kinds.empty(), "--kind", {"prompts watch"}},
      {args.max.has_value(), "--max", {"prompts watch"}},
      {given("friction"), "--friction", kFiltered},
      {given("any-tag"), "--any-tag", kFiltered},
      {given("source"), "--source", kFiltered},
      {given("survey"), "--survey", kFiltered},
      {given("from"), "--from", kFiltered},
      {given("to"), "--to", kFiltered},
      {given("trait"), "--trait", kFiltered},
      {given("score"),
       "--score",
       {"responses list", "responses export", "report", "prompts answer"}},
      {given("text"),
       "--text",
       {"responses list", "responses export", "report", "prompts answer"}},
      {given("choice"), "--choice", {"prompts answer"}},
      {given("choices"), "--choices", {"prompts answer"}},
      {given("notes"), "--notes", {"prompts interview"}},
      {given("page-token"), "--page-token", {"responses list"}},
      {given("all"), "--all", {"responses list"}},
      {given("note"), "--note", {"responses tag"}},
      {given("no-bom"), "--no-bom", {"responses export", "report"}},
      {given("outcome"), "--outcome", {"report"}},
      {given("outcome-days"), "--outcome-days", {"report"}},
      {given("yes"), "--yes", {"users delete"}},
  };
  for (const auto& o : scoped) {
    if (o.given && std::find(o.commands.begin(), o.commands.end(), command) ==
                       o.commands.end()) {
      std::string takers;
      for (size_t i = 0; i < o.commands.size(); ++i) {
        absl::StrAppend(&takers,
                        i == 0                       ? ""
                        : i + 1 == o.commands.size() ? " and "
                                                     : ", ",
                        "'", o.commands[i],
                        o.commands[i] == "prompts" ? " USER" : "", "'");
      }
      return Usage({absl::StrCat(o.option, " only applies to ", takers),
                    o.commands.front()});
    }
  }
  // Values whose range depends on the command.
  if (args.limit_text.has_value()) {
    const int most = command == "prompts"          ? 10
                     : command == "responses list" ? 1000
                                                   : 1'000'000;
    int n = 0;
    if (!absl::SimpleAtoi(*args.limit_text, &n) || n < 1 || n > most) {
      return Usage({absl::StrCat("--limit must be a number from 1 to ", most,
                                 ", got '", *args.limit_text, "'"),
                    command});
    }
    args.limit = n;
  }
  if (args.format.has_value()) {
    const std::vector<std::string> formats =
        command == "responses export" ? std::vector<std::string>{"csv", "jsonl"}
        : command == "report" ? std::vector<std::string>{"table", "csv", "json"}
                              : std::vector<std::string>{"table", "json"};
    if (std::find(formats.begin(), formats.end(), *args.format) ==
        formats.end()) {
      return Usage(
          {absl::StrCat("--format must be ",
                        absl::StrJoin(formats.begin(), formats.end() - 1, ", "),
                        " or ", formats.back(), ", got '", *args.format, "'"),
           command});
    }
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
    if (pos.size() >= 2 && pos[1] == "delete") return UsersDelete(args);
    return Usage({pos.size() < 2
                      ? "users needs a subcommand: identify or delete"
                      : absl::StrCat("unknown command 'users ", pos[1],
                                     "'; try identify or delete"),
                  "users"});
  }
  if (pos[0] == "responses") {
    if (pos.size() >= 2) {
      if (pos[1] == "list") return ResponsesList(args);
      if (pos[1] == "show") return ResponsesShow(args);
      if (pos[1] == "tag") return ResponsesTag(args);
      if (pos[1] == "export") return ResponsesExport(args);
    }
    return Usage({pos.size() < 2
                      ? "responses needs a subcommand: list, show, tag or "
                        "export"
                      : absl::StrCat("unknown command 'responses ", pos[1],
                                     "'; try list, show, tag or export"),
                  "responses"});
  }
  if (pos[0] == "report") return Report(args);
  if (pos[0] == "rules") {
    if (pos.size() >= 2) {
      if (pos[1] == "check") return RulesCheck(args);
      if (pos[1] == "test") return RulesTest(args);
      if (pos[1] == "apply") return RulesApply(args);
      if (pos[1] == "list") return RulesList(args);
    }
    return Usage({pos.size() < 2
                      ? "rules needs a subcommand: check, test, apply or list"
                      : absl::StrCat("unknown command 'rules ", pos[1],
                                     "'; try check, test, apply or list"),
                  "rules"});
  }
  if (pos[0] == "matches") return Matches(args);
  if (pos[0] == "explain") return Explain(args);
  if (pos[0] == "prompts") {
    if (pos.size() < 2) {
      return Usage(
          {"prompts needs a USER, or a subcommand: watch, shown or "
           "dismissed",
           "prompts"});
    }
    if (pos[1] == "watch") return PromptsWatch(args);
    if (pos[1] == "shown" || pos[1] == "dismissed") return PromptsEvent(args);
    if (pos[1] == "answer") return PromptsAnswer(args);
    if (pos[1] == "interview") return PromptsInterview(args);
    return PromptsGet(args);
  }
  if (pos[0] == "stats") return Stats(args);
  return Usage({absl::StrCat("unknown command '", pos[0], "'"), ""});
}

}  // namespace
}  // namespace hark::cli

int main(int argc, char** argv) { return hark::cli::Run(argc, argv); }
