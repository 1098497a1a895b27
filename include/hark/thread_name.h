#ifndef HARK_THREAD_NAME_H_
#define HARK_THREAD_NAME_H_

#include <pthread.h>

#include <string>

namespace hark {

// Names the calling thread as `top`, `perf` and gdb show it (Linux keeps at
// most 15 characters; longer names are cut). Purely diagnostic.
inline void SetThreadName(const std::string& name) {
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace hark

#endif  // HARK_THREAD_NAME_H_
