// Placeholder until the YAML loader lands (next commit).
#include "absl/status/status.h"
#include "server/rules/rule_set.h"

namespace hark::rules {

absl::StatusOr<std::shared_ptr<const RuleSet>> LoadRuleSet(
    absl::Span<const SourceFile>, std::vector<LoadError>*) {
  return absl::UnimplementedError("LoadRuleSet: not yet");
}

absl::StatusOr<std::vector<SourceFile>> ReadRuleDir(absl::string_view) {
  return absl::UnimplementedError("ReadRuleDir: not yet");
}

}  // namespace hark::rules
