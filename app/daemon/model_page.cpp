#include "model_page.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include <boost/asio/post.hpp>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "core/log.hpp"

extern char** environ;

namespace lookout {

namespace {

// What of the CLI's messages is kept for the error (the end says why).
constexpr std::size_t kMaxMessages = 16 * 1024;
// A page larger than this is not one the CLI drew for a model lookoutd runs.
constexpr off_t kMaxPageBytes = 64 * 1024 * 1024;
constexpr int kExecFailed = 127;

// A descriptor closed when it goes.
class Descriptor {
 public:
  explicit Descriptor(int fd = -1) : fd_(fd) {}
  ~Descriptor() { reset(); }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

bool executable(const std::filesystem::path& p) {
  return ::access(p.c_str(), X_OK) == 0 && !std::filesystem::is_directory(p);
}

std::string last_line(const std::string& text) {
  std::string s = text;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  const auto nl = s.rfind('\n');
  return nl == std::string::npos ? s : s.substr(nl + 1);
}

// Runs the CLI for `r` and waits (worker thread). Never throws.
ModelPageResult draw(const std::string& cli, const ModelPageRequest& r,
                     std::chrono::seconds timeout, const std::atomic<bool>& stopping) {
  ModelPageResult out;
  out.request = r;
  if (cli.empty()) {
    out.error =
        "the lookout CLI, which draws this page, is not installed beside lookoutd (nor named by "
        "LOOKOUT_CLI)";
    return out;
  }
  std::vector<std::string> args = {cli, "model", "inspect", "--html", "/proc/self/fd/3"};
  if (r.input_width > 0 && r.input_height > 0) {
    args.insert(args.end(),
                {"--imgsz", std::to_string(r.input_width) + "x" + std::to_string(r.input_height)});
  }
  if (r.profile_runs > 0) {
    args.insert(args.end(),
                {"--profile", "--runs", std::to_string(r.profile_runs), "--backend",
                 std::string(enum_name(r.backend)), "--threads", std::to_string(r.threads)});
  }
  args.push_back("--");
  args.push_back(r.model_path);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  const Descriptor page(::memfd_create("lookout-model-page", MFD_CLOEXEC));
  int pipe_fds[2];
  if (page.get() < 0 || ::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    out.error = std::string("cannot start the lookout CLI: ") + std::strerror(errno);
    return out;
  }
  Descriptor messages(pipe_fds[0]), messages_in(pipe_fds[1]);
  const Descriptor devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    out.error = std::string("cannot start the lookout CLI (fork: ") + std::strerror(errno) + ")";
    return out;
  }
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec. Gone with the
    // daemon; nothing of the daemon's stays open in it but what it is given
    // (a listening socket held by the child would keep its port busy).
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(kExecFailed);
    const int page_fd = ::fcntl(page.get(), F_DUPFD, 16);
    const int messages_fd = ::fcntl(messages_in.get(), F_DUPFD, 16);
    if (page_fd < 0 || messages_fd < 0) ::_exit(kExecFailed);
    ::dup2(devnull.get() >= 0 ? devnull.get() : messages_fd, STDIN_FILENO);
    ::dup2(messages_fd, STDOUT_FILENO);
    ::dup2(messages_fd, STDERR_FILENO);
    ::dup2(page_fd, 3);
    ::close_range(4, ~0U, 0);
    // Below the camera and the daemon's own threads.
    ::setpriority(PRIO_PROCESS, 0, 10);
    ::execve(argv[0], argv.data(), environ);
    static const char kMessage[] = "lookoutd: cannot run the lookout CLI\n";
    (void)!::write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
    ::_exit(kExecFailed);
  }
  messages_in.reset();

  std::string text;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool timed_out = false, stopped = false;
  for (;;) {
    if (stopping) {
      stopped = true;
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      timed_out = true;
      break;
    }
    pollfd p{messages.get(), POLLIN, 0};
    const int ready = ::poll(&p, 1, 200);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) break;
    if (ready == 0) continue;
    char chunk[4096];
    const ssize_t n = ::read(messages.get(), chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the CLI closed its output: it is ending
    text.append(chunk, static_cast<std::size_t>(n));
    if (text.size() > kMaxMessages) text.erase(0, text.size() - kMaxMessages);
  }
  if (timed_out || stopped) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (stopped) {
    out.error = "lookoutd is stopping";
    return out;
  }
  if (timed_out) {
    out.error = "drawing the page took longer than " + std::to_string(timeout.count()) +
                " s; the CLI was stopped";
    return out;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    const std::string why = last_line(text);
    out.error = "`" + cli + " model inspect --html` " +
                (WIFEXITED(status) ? "exited with " + std::to_string(WEXITSTATUS(status))
                                   : "was killed by signal " + std::to_string(WTERMSIG(status))) +
                (why.empty() ? "" : ": " + why);
    return out;
  }
  struct stat st {};
  if (::fstat(page.get(), &st) != 0 || st.st_size <= 0 || st.st_size > kMaxPageBytes) {
    out.error = "the lookout CLI wrote no page (" + std::to_string(st.st_size) + " bytes)";
    return out;
  }
  std::string html(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < html.size()) {
    const ssize_t n =
        ::pread(page.get(), html.data() + got, html.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  html.resize(got);
  out.html = std::make_shared<const std::string>(std::move(html));
  return out;
}

}  // namespace

std::string find_lookout_cli() {
  if (const char* named = std::getenv("LOOKOUT_CLI"); named != nullptr && named[0] != '\0') {
    return named;
  }
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  const auto dir = self.parent_path();
  for (const auto& candidate : {dir / "lookout", dir / ".." / "bin" / "lookout"}) {
    if (executable(candidate)) return candidate.lexically_normal().string();
  }
  return {};
}

ModelPageMaker::ModelPageMaker(boost::asio::io_context& io, std::string cli,
                               std::chrono::seconds timeout)
    : io_(io), cli_(std::move(cli)), timeout_(timeout) {}

ModelPageMaker::~ModelPageMaker() {
  stopping_ = true;
  if (worker_.joinable()) worker_.join();
}

void ModelPageMaker::start(const ModelPageRequest& request,
                           std::function<void(ModelPageResult)> done) {
  if (busy_) throw std::logic_error("ModelPageMaker::start while busy");
  if (worker_.joinable()) worker_.join();  // the last one has posted its result already
  busy_ = true;
  current_ = request;
  log::info("HTTP: drawing the model page of ", request.model_path,
            request.profile_runs > 0
                ? " with a profile of " + std::to_string(request.profile_runs) +
                      " runs (this competes with inference)"
                : std::string());
  worker_ = std::thread([this, request, done = std::move(done)]() mutable {
    ModelPageResult result = draw(cli_, request, timeout_, stopping_);
    if (stopping_) return;
    // The maker may be gone by the time the I/O thread runs this (the
    // server closed): then so is whoever waited.
    boost::asio::post(io_, [this, alive = std::weak_ptr<bool>(alive_), result = std::move(result),
                            done = std::move(done)]() mutable {
      if (alive.expired()) return;
      busy_ = false;
      if (!result.error.empty()) log::warning("HTTP: the model page: ", result.error);
      done(std::move(result));
    });
  });
}

}  // namespace lookout
