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
#include <cstring>
#include <string>
#include <vector>

#include <sys/resource.h>
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

constexpr int kExecFailed = 127;  // the child could not start the program
constexpr std::size_t kMaxReport = 16 * 1024;

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

}  // namespace

std::size_t probe_memory_limit(std::uintmax_t file_size) {
  constexpr std::uintmax_t kBase = 512ull << 20;
  const std::uintmax_t limit = kBase + 8 * file_size;
  return static_cast<std::size_t>(std::min<std::uintmax_t>(limit, std::uintmax_t{1} << 40));
}

void probe_model(const std::string& path, const std::vector<std::string>& command,
                 std::chrono::seconds patience) {
  struct stat st {};
  const std::uintmax_t size =
      ::stat(path.c_str(), &st) == 0 ? static_cast<std::uintmax_t>(st.st_size) : 0;
  const std::size_t limit = probe_memory_limit(size);

  std::vector<std::string> args = command;
  args.push_back(path);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) {
    log::warning("engine: cannot check ", path,
                 " in a separate process (pipe: ", std::strerror(errno), "); loading it here");
    return;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(out[0]);
    ::close(out[1]);
    log::warning("engine: cannot check ", path,
                 " in a separate process (fork: ", std::strerror(errno), "); loading it here");
    return;
  }
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec: this process has
    // the parent's threads' locks, not the threads.
    ::dup2(out[1], STDERR_FILENO);
    ::dup2(out[1], STDOUT_FILENO);
    // Nothing else of ours: a listening socket held by the probe would keep
    // its port busy after a reload closed it.
    ::close_range(3, ~0U, 0);
    if (kMemoryLimit) {
      const rlimit data{limit, limit};
      ::setrlimit(RLIMIT_DATA, &data);
    }
    const rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);  // a crash here is expected, not a bug report
    ::execv(argv[0], argv.data());
    ::_exit(kExecFailed);
  }
  ::close(out[1]);

  std::string report;
  const auto deadline = std::chrono::steady_clock::now() + patience;
  bool timed_out = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{out[0], POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    char chunk[4096];
    const ssize_t n = ::read(out[0], chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the probe (and whatever it started) closed its output
    if (report.size() < kMaxReport) report.append(chunk, static_cast<std::size_t>(n));
  }
  ::close(out[0]);
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }

  const std::string seconds = std::to_string(patience.count());
  if (timed_out) {
    throw ModelError(path + ": reading it took longer than " + seconds +
                     " s in the check process, which was stopped; the file is corrupt or not a "
                     "model lookout can use");
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  if (WIFEXITED(status) && WEXITSTATUS(status) == kExecFailed) {
    log::warning("engine: cannot run the model check process ", args.front(), "; loading ", path,
                 " here without it");
    return;
  }
  const std::string why = last_line(report);
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = ::sigabbrev_np(sig);
    throw ModelError(path + ": reading it crashed the check process (signal " +
                     std::to_string(sig) + (name ? std::string(", SIG") + name : "") +
                     "); the file is corrupt or hostile, and was not loaded" +
                     (why.empty() ? "" : " (last words: " + why + ")"));
  }
  const bool memory = report.find("bad_alloc") != std::string::npos ||
                      report.find("out of memory") != std::string::npos;
  if (memory) {
    throw ModelError(path + ": reading it needed more than " + std::to_string(limit >> 20) +
                     " MiB (512 MiB + 8x its size) in the check process; the file is corrupt "
                     "or hostile, and was not loaded");
  }
  throw ModelError(why.empty() ? path + ": the check process refused it (exit " +
                                     std::to_string(WEXITSTATUS(status)) + ")"
                               : why);
}

}  // namespace lookout::engine
