// The parent's side of EngineOptions::probe_command: runs the probe program
// in a child process under a memory limit and turns its end into ModelError.
// No libtorch here: the child is a fresh program (fork, then exec at once).
#include "model_probe.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "core/log.hpp"

namespace lookout::engine {

namespace {

// Sanitizer builds reserve terabytes of address space for their shadow
// memory, which a data limit would refuse.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kMemoryLimit = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kMemoryLimit = false;
#else
constexpr bool kMemoryLimit = true;
#endif
#else
constexpr bool kMemoryLimit = true;
#endif

constexpr int kExecFailed = 127;     // the child could not start the program (exec failed)
constexpr int kNoDescriptors = 125;  // the child could not set up its descriptors
constexpr std::size_t kMaxReport = 16 * 1024;
constexpr std::size_t kMinimumLimit = 256u << 20;  // a good model reads in less than half
// What the probe is told to read when it has the snapshot as descriptor 4.
constexpr const char* kSnapshotInProbe = "/proc/self/fd/4";
constexpr std::uintmax_t kMaxModelBytes = std::uintmax_t{4} << 30;
// The environment variable by which the probe learns its memory limit.
constexpr const char* kLimitVariable = "LOOKOUT_PROBE_MEMORY_LIMIT";

// The probe's last line that says something, for the message.
std::string last_line(const std::string& text) {
  const std::size_t end = text.find_last_not_of(" \n\r\t");
  if (end == std::string::npos) return "";
  const std::size_t newline = text.rfind('\n', end);
  const std::size_t begin = newline == std::string::npos ? 0 : newline + 1;
  std::string line = text.substr(begin, end + 1 - begin);
  // The probe logs with a severity prefix ("<3>"); the message is what matters.
  if (line.size() > 3 && line[0] == '<' && line[2] == '>') line.erase(0, 3);
  return line;
}

// The data limit (RLIMIT_DATA) the probe runs under for a file of this size.
std::size_t probe_memory_limit(std::uintmax_t file_size) {
  constexpr std::uintmax_t kBase = 512ull << 20;
  const std::uintmax_t limit = kBase + 8 * file_size;
  return static_cast<std::size_t>(std::min<std::uintmax_t>(limit, std::uintmax_t{1} << 40));
}

// The cgroup (v2) directory of this process, or "" outside one.
std::string own_cgroup_dir() {
  // "0::/system.slice/lookoutd.service". The probe shares the daemon's
  // cgroup, so both must fit under its memory.max.
  std::ifstream self("/proc/self/cgroup");
  std::string line, path;
  while (std::getline(self, line)) {
    if (line.rfind("0::", 0) == 0) path = line.substr(3);
  }
  return path.empty() ? "" : "/sys/fs/cgroup" + path;
}

// A number from /proc/self/status ("VmSize:  123456 kB"), in bytes.
std::optional<std::uintmax_t> status_bytes(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      try {
        return std::stoull(line.substr(field.size() + 1)) * 1024;
      } catch (const std::exception&) {
        return std::nullopt;
      }
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::uintmax_t> cgroup_memory_left(const std::string& dir) {
  std::ifstream max_file(dir + "/memory.max"), current_file(dir + "/memory.current");
  std::string max_text;
  std::uintmax_t current = 0;
  if (!(max_file >> max_text) || !(current_file >> current) || max_text == "max") {
    return std::nullopt;
  }
  std::uintmax_t reclaimable = 0;
  std::ifstream stat_file(dir + "/memory.stat");
  std::string key;
  std::uintmax_t value = 0;
  while (stat_file >> key >> value) {
    if (key == "inactive_file" || key == "active_file") reclaimable += value;
  }
  const std::uintmax_t held = current > reclaimable ? current - reclaimable : 0;
  try {
    const std::uintmax_t max = std::stoull(max_text);
    return max > held ? max - held : 0;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

ModelSnapshot::ModelSnapshot(const std::string& path) {
  const int in = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    throw ModelError(path + ": cannot open model file for reading (" + std::strerror(errno) + ")");
  }
  struct stat st {};
  if (::fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(in);
    throw ModelError(path + ": not a regular file");
  }
  if (static_cast<std::uintmax_t>(st.st_size) > kMaxModelBytes) {
    ::close(in);
    throw ModelError(path + ": " + std::to_string(st.st_size >> 20) +
                     " MiB, more than the 4096 MiB a model file may have");
  }
  fd_ = ::memfd_create("lookout-model", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd_ < 0) {
    ::close(in);
    log::warning("engine: cannot copy ", path, " to memory (memfd_create: ", std::strerror(errno),
                 "); the check and the load read the file itself");
    return;
  }
  const auto fail = [&](const std::string& why) {
    ::close(in);
    ::close(fd_);
    fd_ = -1;
    throw ModelError(path + ": " + why);
  };
  bool use_sendfile = true;
  std::vector<char> buffer;
  for (;;) {
    ssize_t n = 0;
    if (use_sendfile) {
      n = ::sendfile(fd_, in, nullptr, 1 << 20);
      if (n < 0 && (errno == EINVAL || errno == ENOSYS)) {
        use_sendfile = false;  // a file system without splicing: read and write
        buffer.resize(1 << 20);
        continue;
      }
    } else {
      n = ::read(in, buffer.data(), buffer.size());
      for (ssize_t done = 0; n > 0 && done < n;) {
        const ssize_t w = ::write(fd_, buffer.data() + done, static_cast<std::size_t>(n - done));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0)
          fail(std::string("cannot copy model file to memory (") + std::strerror(errno) + ")");
        done += w;
      }
    }
    if (n > 0) {
      size_ += static_cast<std::uintmax_t>(n);
      // It may grow while it is read.
      if (size_ > kMaxModelBytes) fail("more than the 4096 MiB a model file may have");
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(std::string("cannot read model file (") + std::strerror(errno) + ")");
    break;
  }
  ::close(in);
  // Sealed, and kept only as a read-only descriptor, which is what the probe
  // gets: nothing, in this process, the probe or another, can change it now.
  if (::fcntl(fd_, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
    log::debug("engine: cannot seal the copy of ", path, " (", std::strerror(errno), ")");
  }
  const int read_only =
      ::open(("/proc/self/fd/" + std::to_string(fd_)).c_str(), O_RDONLY | O_CLOEXEC);
  if (read_only < 0) {
    fail(std::string("cannot reopen its copy in memory (") + std::strerror(errno) + ")");
  }
  ::close(fd_);
  fd_ = read_only;
}

ModelSnapshot::~ModelSnapshot() {
  if (fd_ >= 0) ::close(fd_);
}

std::string ModelSnapshot::path() const {
  return fd_ < 0 ? "" : "/proc/self/fd/" + std::to_string(fd_);
}

void probe_model(const std::string& path, const ModelSnapshot* snapshot,
                 const std::vector<std::string>& command, std::chrono::seconds patience) {
  const int snapshot_fd = snapshot ? snapshot->fd() : -1;
  struct stat st {};
  const std::uintmax_t size = snapshot_fd >= 0 ? snapshot->size()
                              : ::stat(path.c_str(), &st) == 0
                                  ? static_cast<std::uintmax_t>(st.st_size)
                                  : 0;
  std::size_t limit = probe_memory_limit(size);
  const std::string cgroup = own_cgroup_dir();
  if (const auto left = cgroup.empty() ? std::nullopt : cgroup_memory_left(cgroup)) {
    // Three quarters of what the unit has left: the probe must run out of
    // memory before the unit does. Never below what reading a good model
    // takes: with less, the probe could not read any model, and if the unit
    // does run short, the OOM killer takes the probe (its score is highest).
    limit = std::min<std::size_t>(limit, static_cast<std::size_t>(*left / 4 * 3));
    limit = std::max<std::size_t>(limit, kMinimumLimit);
  }
  // A hard limit the daemon was started under stays: lowering is all a
  // process may do.
  rlimit inherited{};
  if (::getrlimit(RLIMIT_DATA, &inherited) == 0 && inherited.rlim_max != RLIM_INFINITY) {
    limit = std::min<std::size_t>(limit, static_cast<std::size_t>(inherited.rlim_max));
  }

  // "--probe-model=PATH": a path that starts with '-' stays one argument.
  // With a snapshot the probe reads that, as its descriptor 4.
  std::vector<std::string> args = command;
  if (args.empty()) return;
  args.back() += "=" + (snapshot_fd >= 0 ? std::string(kSnapshotInProbe) : path);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // The environment, with the limit for the probe to apply to itself
  // (limit_probe_address_space): made here, as nothing may allocate after fork.
  std::vector<std::string> env_strings;
  for (char** e = environ; e && *e; ++e) {
    if (std::string_view(*e).rfind(kLimitVariable + std::string("="), 0) != 0)
      env_strings.push_back(*e);
  }
  if (kMemoryLimit)
    env_strings.push_back(std::string(kLimitVariable) + "=" + std::to_string(limit));
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  int out[2];
  int exec_error[2];  // the child's errno when exec fails; EOF when exec worked
  if (::pipe2(out, O_CLOEXEC) != 0) {
    log::warning("engine: cannot check ", path,
                 " in a separate process (pipe: ", std::strerror(errno), "); loading it here");
    return;
  }
  if (::pipe2(exec_error, O_CLOEXEC) != 0) {
    ::close(out[0]);
    ::close(out[1]);
    log::warning("engine: cannot check ", path,
                 " in a separate process (pipe: ", std::strerror(errno), "); loading it here");
    return;
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    for (int fd : {out[0], out[1], exec_error[0], exec_error[1]}) ::close(fd);
    log::warning("engine: cannot check ", path,
                 " in a separate process (fork: ", std::strerror(errno), "); loading it here");
    return;
  }
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec: this process has
    // the parent's threads' locks, not the threads.
    // Gone with the daemon (stopped mid-reload, or killed): never an orphan.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(kExecFailed);
    ::dup2(out[1], STDERR_FILENO);
    ::dup2(out[1], STDOUT_FILENO);
    // Descriptor 3 reports a failed exec (close-on-exec, so it closes when
    // exec works); nothing else of ours stays open: a listening socket held
    // by the probe would keep its port busy after a reload closed it.
    // Descriptor 4 is the snapshot, when there is one. Both are moved out
    // of the way first, so that neither lands on the other.
    const int error_pipe = ::fcntl(exec_error[1], F_DUPFD_CLOEXEC, 16);
    const int model = snapshot_fd >= 0 ? ::fcntl(snapshot_fd, F_DUPFD, 16) : -1;
    if (error_pipe < 0 || ::dup3(error_pipe, 3, O_CLOEXEC) < 0) ::_exit(kNoDescriptors);
    if (snapshot_fd >= 0 && (model < 0 || ::dup2(model, 4) < 0)) ::_exit(kNoDescriptors);
    ::close_range(model >= 0 ? 5 : 4, ~0U, 0);
    if (kMemoryLimit) {
      const rlimit data{limit, limit};
      ::setrlimit(RLIMIT_DATA, &data);
    }
    // A probe that loops stops, whatever happens to its parent: SIGXCPU at
    // the soft limit (a crash), SIGKILL only at the hard one.
    const rlimit cpu{300, 310};
    ::setrlimit(RLIMIT_CPU, &cpu);
    const rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);  // a crash here is expected, not a bug report
    // If memory runs short in the unit's cgroup, the OOM killer takes the probe.
    const int oom = ::open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (oom >= 0) {
      (void)!::write(oom, "1000", 4);
      ::close(oom);
    }
    ::execve(argv[0], argv.data(), envp.data());
    const int error = errno;
    (void)!::write(3, &error, sizeof error);
    ::_exit(kExecFailed);
  }
  ::close(out[1]);
  ::close(exec_error[1]);
  int exec_errno = 0;
  ssize_t got = 0;
  while ((got = ::read(exec_error[0], &exec_errno, sizeof exec_errno)) < 0 && errno == EINTR) {
  }
  ::close(exec_error[0]);
  const bool exec_failed = got == static_cast<ssize_t>(sizeof exec_errno);

  std::string report;
  const auto deadline = std::chrono::steady_clock::now() + patience;
  bool timed_out = false;
  while (!exec_failed) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{out[0], POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) break;
    if (ready == 0) continue;
    char chunk[4096];
    const ssize_t n = ::read(out[0], chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the probe (and whatever it started) closed its output
    report.append(chunk, static_cast<std::size_t>(n));
    // The end says why; keep that.
    if (report.size() > kMaxReport) report.erase(0, report.size() - kMaxReport);
  }
  ::close(out[0]);
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  pid_t waited = 0;
  while ((waited = ::waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
  }
  if (exec_failed) {
    log::warning("engine: cannot run the model check process ", args.front(), " (",
                 std::strerror(exec_errno), "); loading ", path, " here without it");
    return;
  }
  if (waited != pid) {
    throw ModelError(path + ": the check process could not be waited for (" + std::strerror(errno) +
                     ")");
  }

  const std::string seconds = std::to_string(patience.count());
  if (timed_out) {
    throw ModelError(path + ": reading it took longer than " + seconds +
                     " s in the check process, which was stopped; the file is corrupt or not a "
                     "model lookout can use");
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  if (WIFEXITED(status) && WEXITSTATUS(status) == kNoDescriptors && report.empty()) {
    throw ModelError(path +
                     ": the check process could not be given the file (out of file "
                     "descriptors?); not loaded");
  }
  // The probe names what it read, the snapshot: the daemon names the file.
  std::string why = last_line(report);
  for (std::size_t at = 0; (at = why.find(kSnapshotInProbe, at)) != std::string::npos;) {
    why.replace(at, std::strlen(kSnapshotInProbe), path);
    at += path.size();
  }
  // Out of memory shows as libtorch's error (exit 65), or as std::bad_alloc
  // thrown where nothing catches it (abort).
  const bool memory = report.find("bad_alloc") != std::string::npos ||
                      report.find("out of memory") != std::string::npos;
  if (memory) {
    throw ModelError(path + ": reading it needed more than " + std::to_string(limit >> 20) +
                     " MiB in the check process (512 MiB + 8x its size, at most 3/4 of what "
                     "the service's memory limit leaves and at least 256 MiB); the file is "
                     "corrupt or hostile, and was not loaded");
  }
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
    // The timeout above aside, SIGKILL comes from the OOM killer (the CPU
    // limit sends SIGXCPU first).
    throw ModelError(path +
                     ": reading it got the check process killed (SIGKILL), most likely "
                     "by the kernel for using too much memory; the file is corrupt or "
                     "hostile, or the service's memory limit too low, and it was not "
                     "loaded");
  }
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = ::sigabbrev_np(sig);
    throw ModelError(path + ": reading it crashed the check process (signal " +
                     std::to_string(sig) + (name ? std::string(", SIG") + name : "") +
                     "); the file is corrupt or hostile, and was not loaded" +
                     (why.empty() ? "" : " (last words: " + why + ")"));
  }
  throw ModelError(why.empty() ? path + ": the check process refused it (exit " +
                                     std::to_string(WEXITSTATUS(status)) + ")"
                               : why);
}

void limit_probe_address_space() {
  // The budget: what the parent said, or (run by hand, or by a test) the data
  // limit it was started under.
  std::optional<rlim_t> budget;
  if (const char* given = std::getenv(kLimitVariable)) {
    try {
      budget = static_cast<rlim_t>(std::stoull(given));
    } catch (const std::exception&) {
      log::warning("probe: ", kLimitVariable, "=", given, " is not a number of bytes");
    }
  }
  rlimit data{};
  if (::getrlimit(RLIMIT_DATA, &data) != 0) return;
  if (!budget && data.rlim_cur != RLIM_INFINITY) budget = data.rlim_cur;
  if (!budget) return;
#if defined(__GLIBC__)
  // One malloc arena: each further thread's would reserve 64 MiB of the
  // address space allowed below.
  ::mallopt(M_ARENA_MAX, 1);
#endif
  // The data limit again, in case the parent's could not be set.
  if (data.rlim_cur == RLIM_INFINITY || data.rlim_cur > *budget) {
    const rlim_t cap = data.rlim_max == RLIM_INFINITY ? *budget : std::min(*budget, data.rlim_max);
    const rlimit wanted{cap, data.rlim_max};
    ::setrlimit(RLIMIT_DATA, &wanted);
  }
  const auto mapped = status_bytes("VmSize");
  rlimit space{};
  if (!mapped || ::getrlimit(RLIMIT_AS, &space) != 0) return;
  // What is mapped now (the program, its libraries), the budget, and room
  // for what the address space counts and the data limit does not: thread
  // stacks, guard pages, read-only mappings.
  constexpr rlim_t kUncounted = 256u << 20;
  constexpr rlim_t kMax = std::numeric_limits<rlim_t>::max() / 4;
  rlim_t limit = static_cast<rlim_t>(*mapped) + std::min(*budget, kMax) + kUncounted;
  if (space.rlim_max != RLIM_INFINITY) limit = std::min(limit, space.rlim_max);
  const rlimit wanted{limit, limit};
  if (::setrlimit(RLIMIT_AS, &wanted) != 0) {
    log::warning("probe: cannot limit the address space (", std::strerror(errno), ")");
  }
}

}  // namespace lookout::engine
