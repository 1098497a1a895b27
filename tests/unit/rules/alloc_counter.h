#ifndef HARK_TESTS_UNIT_RULES_ALLOC_COUNTER_H_
#define HARK_TESTS_UNIT_RULES_ALLOC_COUNTER_H_

// Counts calls of the global operator new made by this thread while `fn`
// runs (the test binary replaces operator new, see alloc_counter.cc).

#include "absl/functional/function_ref.h"

namespace testing_alloc {

// False where operator new cannot be replaced (AddressSanitizer builds);
// CountAllocations then always returns 0.
bool Available();

int CountAllocations(absl::FunctionRef<void()> fn);

}  // namespace testing_alloc

#endif  // HARK_TESTS_UNIT_RULES_ALLOC_COUNTER_H_
