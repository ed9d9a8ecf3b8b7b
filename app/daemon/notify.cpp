#include "daemon/notify.hpp"

#include <cstdint>

#if LOOKOUT_WITH_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace lookout::systemd {

bool notify(const std::string& state) {
#if LOOKOUT_WITH_SYSTEMD
  return sd_notify(0, state.c_str()) > 0;
#else
  (void)state;
  return false;
#endif
}

std::optional<std::chrono::microseconds> watchdog_interval() {
#if LOOKOUT_WITH_SYSTEMD
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    return std::chrono::microseconds(usec);
  }
#endif
  return std::nullopt;
}

}  // namespace lookout::systemd
