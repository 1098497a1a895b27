#ifndef HARK_TESTS_UNIT_CLI_REVIEW_SAMPLES_H_
#define HARK_TESTS_UNIT_CLI_REVIEW_SAMPLES_H_

// Realistic review messages for the tests of the review commands' output,
// shaped like those harkd sends.

#include <cstdint>
#include <string>

#include "google/protobuf/timestamp.pb.h"
#include "hark/v1/review.pb.h"

namespace hark::cli::testing {

// 2026-11-22T10:31:05Z.
inline constexpr int64_t kMatchedAt = 1795343465;

inline google::protobuf::Timestamp Ts(int64_t seconds, int32_t nanos = 0) {
  google::protobuf::Timestamp t;
  t.set_seconds(seconds);
  t.set_nanos(nanos);
  return t;
}

inline hark::v1::FrictionTag* AddTag(
    google::protobuf::RepeatedPtrField<hark::v1::FrictionTag>* tags,
    const std::string& friction, const std::string& source, double confidence,
    bool primary, int64_t at) {
  hark::v1::FrictionTag* t = tags->Add();
  t->set_friction(friction);
  t->set_source(source);
  t->set_confidence(confidence);
  t->set_primary(primary);
  *t->mutable_tagged_at() = Ts(at);
  return t;
}

// u-42 hit error E4012 three times, answered the error survey (CES 2, the
// "billing" choice, a two-line text, not the optional last question), and
// a reviewer re-tagged it.
inline hark::v1::Response SurveyResponse() {
  hark::v1::Response r;
  r.set_response_id("r_00c0ffee00c0ffee");
  r.set_prompt_id("p_00c0ffee00c0ffee");
  r.set_user_id("u-42");
  r.set_rule_id("repeated_errors");
  r.set_definition_id("error_feedback");
  r.set_kind(hark::v1::Prompt::SURVEY);
  *r.mutable_submitted_at() = Ts(kMatchedAt + 247);
  *r.mutable_updated_at() = Ts(kMatchedAt + 247);
  hark::v1::Answer* ease = r.add_answers();
  ease->set_question_id("ease");
  ease->set_score(2);
  hark::v1::Answer* cause = r.add_answers();
  cause->set_question_id("cause");
  cause->set_choice("billing");
  hark::v1::Answer* details = r.add_answers();
  details->set_question_id("details");
  details->set_text(
      "The invoice export failed twice.\nThen the card was charged.");
  hark::v1::Prompt* p = r.mutable_prompt();
  p->set_prompt_id(r.prompt_id());
  p->set_kind(hark::v1::Prompt::SURVEY);
  p->set_title("Something keeps failing?");
  const struct {
    const char* id;
    hark::v1::Question::Type type;
    const char* text;
  } questions[] = {
      {"ease", hark::v1::Question::CES, "How easy was it to get past E4012?"},
      {"cause", hark::v1::Question::SINGLE_CHOICE, "What got in the way?"},
      {"details", hark::v1::Question::TEXT, "Anything else?"},
      {"contact", hark::v1::Question::TEXT, "May we contact you?"}};
  for (const auto& q : questions) {
    hark::v1::Question* added = p->add_questions();
    added->set_id(q.id);
    added->set_type(q.type);
    added->set_text(q.text);
  }
  hark::v1::Question* cause_question = p->mutable_questions(1);
  cause_question->add_choices()->set_id("docs");
  cause_question->mutable_choices(0)->set_label("The documentation");
  cause_question->add_choices()->set_id("billing");
  cause_question->mutable_choices(1)->set_label("Billing");
  AddTag(r.mutable_tags(), "pricing", "manual", 1.0, true, kMatchedAt + 86400)
      ->set_tagged_by("alice");
  AddTag(r.mutable_tags(), "product", "text", 0.6, false, kMatchedAt + 247);
  AddTag(r.mutable_tag_history(), "product", "choice", 0.9, true,
         kMatchedAt + 247);
  hark::v1::FrictionTag* manual =
      AddTag(r.mutable_tag_history(), "pricing", "manual", 1.0, true,
             kMatchedAt + 86400);
  manual->set_tagged_by("alice");
  manual->set_note("about the charge, not the export");
  hark::v1::Match* m = r.mutable_match();
  m->set_match_id("00c0ffee00c0ffee");
  m->set_rule_id("repeated_errors");
  m->set_user_id("u-42");
  m->set_group_key("E4012");
  *m->mutable_matched_at() = Ts(kMatchedAt);
  for (int i = 0; i < 3; ++i) {
    hark::v1::MatchedEvent* e = m->add_events();
    e->set_event_id("e-" + std::to_string(i));
    e->set_name("error");
    *e->mutable_timestamp() = Ts(kMatchedAt - 120 + 60 * i);
    (*e->mutable_properties())["code"].set_string_value("E4012");
    (*e->mutable_properties())["severity"].set_string_value("error");
  }
  (*m->mutable_traits())["plan"].set_string_value("pro");
  (*m->mutable_traits())["seats"].set_number_value(5);
  return r;
}

// u-7 was invited to the pricing interview and completed it.
inline hark::v1::Response InterviewResponse() {
  hark::v1::Response r;
  r.set_response_id("r_0badcafe0badcafe");
  r.set_prompt_id("p_0badcafe0badcafe");
  r.set_user_id("u-7");
  r.set_rule_id("downgrade_after_upgrade");
  r.set_definition_id("pricing_interview");
  r.set_kind(hark::v1::Prompt::INTERVIEW);
  *r.mutable_submitted_at() = Ts(kMatchedAt - 3600);
  *r.mutable_updated_at() = Ts(kMatchedAt + 2 * 86400);
  r.set_interview_status("completed");
  r.set_interview_notes("Seats are too expensive for a team of 3.");
  AddTag(r.mutable_tags(), "pricing", "text", 0.8, true, kMatchedAt);
  AddTag(r.mutable_tag_history(), "pricing", "text", 0.8, true, kMatchedAt);
  hark::v1::Match* m = r.mutable_match();
  m->set_match_id("0badcafe0badcafe");
  *m->mutable_matched_at() = Ts(kMatchedAt - 7200);
  hark::v1::MatchedEvent* up = m->add_events();
  up->set_name("plan_changed");
  up->set_alias("up");
  hark::v1::MatchedEvent* down = m->add_events();
  down->set_name("plan_changed");
  down->set_alias("down");
  return r;
}

// Two rules over the last weeks: repeated errors mostly answered as
// pricing (the hypothesis was product), cancellation never delivered.
inline hark::v1::Report SampleReport() {
  hark::v1::Report report;
  report.set_outcome_event("subscription_cancelled");
  report.set_outcome_days(30);
  *report.mutable_generated_at() = Ts(kMatchedAt);
  report.set_responses(12);
  (*report.mutable_friction())["pricing"] = 7;
  (*report.mutable_friction())["product"] = 4;
  (*report.mutable_friction())["process"] = 1;
  hark::v1::Report::RuleRow* errors = report.add_rules();
  errors->set_rule_id("repeated_errors");
  errors->set_friction_hypothesis("product");
  errors->set_matches(80);
  (*errors->mutable_decisions())["sent"] = 40;
  (*errors->mutable_decisions())["cooldown"] = 25;
  (*errors->mutable_decisions())["sampled_out"] = 15;
  errors->set_delivered(30);
  errors->set_shown(24);
  errors->set_answered(12);
  errors->set_response_rate(0.4);
  (*errors->mutable_friction())["pricing"] = 7;
  (*errors->mutable_friction())["product"] = 4;
  (*errors->mutable_friction())["process"] = 1;
  errors->set_hypothesis_compared(12);
  errors->set_hypothesis_mismatch(8.0 / 12);
  errors->set_matched_users(250);
  errors->set_responders(50);
  errors->set_non_responders(200);
  errors->set_outcome_rate_responders(0.12);
  errors->set_outcome_rate_non_responders(0.31);
  hark::v1::Report::RuleRow* cancel = report.add_rules();
  cancel->set_rule_id("cancellation");
  cancel->set_friction_hypothesis("perception");
  cancel->set_matches(3);
  (*cancel->mutable_decisions())["shadow"] = 3;
  hark::v1::Report::Week* w1 = report.add_trend();
  *w1->mutable_week_start() = Ts(1794182400);  // 2026-11-09 (Monday)
  (*w1->mutable_friction())["product"] = 3;
  (*w1->mutable_friction())["pricing"] = 2;
  hark::v1::Report::Week* w2 = report.add_trend();
  *w2->mutable_week_start() = Ts(1794787200);  // 2026-11-16
  (*w2->mutable_friction())["pricing"] = 5;
  (*w2->mutable_friction())["product"] = 1;
  (*w2->mutable_friction())["process"] = 1;
  return report;
}

}  // namespace hark::cli::testing

#endif  // HARK_TESTS_UNIT_CLI_REVIEW_SAMPLES_H_
