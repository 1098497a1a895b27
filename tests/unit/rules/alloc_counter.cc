#include "tests/unit/rules/alloc_counter.h"

#include <cstdlib>
#include <new>

namespace {
thread_local bool counting = false;
thread_local int allocations = 0;
}  // namespace

// The replacement operators: plain malloc/free, plus the counter. Not under
// AddressSanitizer, which has its own operators and reports memory from one
// family freed by the other.
#if !defined(__SANITIZE_ADDRESS__)
void* operator new(std::size_t size) {
  if (counting) ++allocations;
  void* p = std::malloc(size == 0 ? 1 : size);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void* operator new[](std::size_t size) { return operator new(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
#endif

namespace testing_alloc {

bool Available() {
#if defined(__SANITIZE_ADDRESS__)
  return false;
#else
  return true;
#endif
}

int CountAllocations(absl::FunctionRef<void()> fn) {
  allocations = 0;
  counting = true;
  fn();
  counting = false;
  return allocations;
}

}  // namespace testing_alloc
