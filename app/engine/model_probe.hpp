// Internal to app/engine: reading a model file in a child process first
// (EngineOptions::probe_command), so that what libtorch's reader does with a
// corrupt or hostile archive (allocate tens of GB, crash) happens there.
//
// Plain functions; the thread that loads the engine calls them. The child is
// forked and execs at once (nothing but async-signal-safe calls between).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.hpp"

namespace lookout::engine {

// What a cgroup (v2) directory may still use: memory.max minus what it holds
// that cannot be reclaimed, or nullopt without a limit. memory.current
// counts the page cache too (files read and written since boot, often most
// of it): taken as it is, a unit that once copied a big file would leave the
// probe too little to start.
std::optional<std::uintmax_t> cgroup_memory_left(const std::string& dir);

// A private copy of a model file in memory (a sealed memfd), made once per
// load: the probe reads it, then the engine loads it, so that the bytes
// loaded are the bytes checked, whatever happens to the file in between (a
// copy finishing during a reload, a swap). Owns the descriptor; the thread
// that loads the engine makes and uses it. Throws ModelError naming the file
// when it cannot be read or is larger than 4 GiB; where memfd_create fails,
// fd() is -1 and the file is read in place (logged).
class ModelSnapshot {
 public:
  explicit ModelSnapshot(const std::string& path);
  ~ModelSnapshot();
  ModelSnapshot(const ModelSnapshot&) = delete;
  ModelSnapshot& operator=(const ModelSnapshot&) = delete;
  int fd() const { return fd_; }
  std::uintmax_t size() const { return size_; }
  // "/proc/self/fd/N", readable by path in this process; "" without a copy.
  std::string path() const;

 private:
  int fd_ = -1;
  std::uintmax_t size_ = 0;
};

// Runs `command` with "=PATH" added to its last argument, and waits up to
// `patience`. Returns when the probe accepted the file, or could not be
// started at all (logged: the caller loads in-process as without a probe). Throws ModelError naming
// the file when the probe refused it, crashed, ran out of memory or took too long.
// With a snapshot (fd() >= 0) the probe reads that (as its descriptor 4,
// "/proc/self/fd/4"), and its messages name `path`.
void probe_model(const std::string& path, const ModelSnapshot* snapshot,
                 const std::vector<std::string>& command, std::chrono::seconds patience);

// The probe's side, first thing before it reads the file. Its budget is
// LOOKOUT_PROBE_MEMORY_LIMIT (bytes), which probe_model passes, or else the
// data limit (RLIMIT_DATA) it was started under. It sets the data limit to
// the budget, and the address space to what it has mapped now (the program
// and its libraries) plus the budget and 256 MiB for stacks and read-only
// mappings. Why both: some kernels do not enforce the data limit (booted
// with ignore_rlimit_data; sandboxes such as gVisor count only brk), and then
// a 20 GB request would succeed and be zeroed. Without a budget (sanitizer
// builds, or a probe run by hand) it does nothing.
void limit_probe_address_space();

}  // namespace lookout::engine
