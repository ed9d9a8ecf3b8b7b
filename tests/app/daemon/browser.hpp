// A real browser for tests: headless Chromium driven through the DevTools
// protocol over a pipe (--remote-debugging-pipe: JSON messages ending in a NUL
// byte, Chromium reading on its fd 3 and writing on its fd 4). No WebSocket,
// no port to find, nothing left listening.
//
// Why not `chromium --dump-dom` or `--screenshot`: those wait for the page to
// finish loading, and the viewer never does (an MJPEG stream and an event
// stream stay open). --virtual-time-budget then waits for ever; --timeout
// cuts off at a fixed time whether or not the page got anywhere. Here a test
// asks the page for its state until what it waits for is there, with a
// generous hang guard only, so a loaded machine or a sanitizer build is
// slower, never wrong.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>
#include <sys/wait.h>

#include "support/skip.hpp"

namespace lookout::test {

// Chromium could not be started here (a reason to skip, not a failure).
struct BrowserUnavailable : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// $LOOKOUT_CHROMIUM, else /usr/bin/chromium, else chromium or
// chromium-browser on PATH; nullopt when there is none.
inline std::optional<std::filesystem::path> find_chromium() {
  namespace fs = std::filesystem;
  const auto runnable = [](const fs::path& p) { return ::access(p.c_str(), X_OK) == 0; };
  if (const char* c = std::getenv("LOOKOUT_CHROMIUM"); c != nullptr && c[0] != '\0') {
    if (runnable(c)) return fs::path(c);
    return std::nullopt;
  }
  if (runnable("/usr/bin/chromium")) return fs::path("/usr/bin/chromium");
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "";
  for (std::size_t start = 0; start <= dirs.size();) {
    const std::size_t end = std::min(dirs.find(':', start), dirs.size());
    const fs::path dir = dirs.substr(start, end - start);
    for (const char* name : {"chromium", "chromium-browser"}) {
      if (!dir.empty() && runnable(dir / name)) return dir / name;
    }
    start = end + 1;
  }
  return std::nullopt;
}

inline std::string base64_decode(const std::string& in) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned value = 0;
  int bits = 0;
  for (const char ch : in) {
    const auto d = kAlphabet.find(ch);
    if (d == std::string::npos) continue;  // '=' padding, line breaks
    value = (value << 6) | static_cast<unsigned>(d);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((value >> bits) & 0xFF));
    }
  }
  return out;
}

// One headless Chromium with one page (tab) attached.
class Browser {
 public:
  using json = nlohmann::json;
  using ms = std::chrono::milliseconds;

  // Hang guard for one protocol call, and for starting.
  static constexpr ms kCallPatience{120000};

  // Starts `chromium` with its profile and log in `dir`, a window of
  // width x height, and opens a blank page. Throws BrowserUnavailable when it
  // does not start or does not answer.
  Browser(const std::filesystem::path& chromium, const std::filesystem::path& dir, int width,
          int height)
      : log_path_(dir / "chromium.log") {
    std::vector<std::string> args = {
        chromium.string(),
        "--headless=new",
        "--no-sandbox",  // tests run as root in CI; the page is our own
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--mute-audio",
        // Timers at full rate: a headless window never counts as visible.
        "--disable-background-timer-throttling",
        "--disable-backgrounding-occluded-windows",
        "--disable-renderer-backgrounding",
        "--user-data-dir=" + (dir / "chromium-profile").string(),
        "--window-size=" + std::to_string(width) + "," + std::to_string(height),
        "--remote-debugging-pipe",
        "about:blank",
    };
    // Socket pairs rather than pipes: a send to a browser that died fails
    // with EPIPE (MSG_NOSIGNAL) instead of killing the test with SIGPIPE.
    int to_browser[2], from_browser[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, to_browser) != 0 ||
        ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, from_browser) != 0) {
      throw std::runtime_error("socketpair failed");
    }
    // Above 4, so the dup2 onto 3 and 4 in the child always makes a new,
    // inheritable descriptor.
    const int child_in = ::fcntl(to_browser[1], F_DUPFD_CLOEXEC, 10);
    const int child_out = ::fcntl(from_browser[1], F_DUPFD_CLOEXEC, 10);
    ::close(to_browser[1]);
    ::close(from_browser[1]);
    write_fd_ = to_browser[0];
    read_fd_ = from_browser[0];

    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      ::setpgid(0, 0);  // its own group: its helpers go with it
      const int log = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
      const int null = ::open("/dev/null", O_RDONLY);
      ::dup2(null, STDIN_FILENO);
      ::dup2(log, STDOUT_FILENO);
      ::dup2(log, STDERR_FILENO);
      ::dup2(child_in, 3);
      ::dup2(child_out, 4);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    pid_ = pid;
    ::setpgid(pid_, pid_);  // also here, so the group exists before either side runs on
    ::close(child_in);
    ::close(child_out);

    try {
      version_ = send("Browser.getVersion", {}, "");
      const json target = send("Target.createTarget", {{"url", "about:blank"}}, "");
      const json attached =
          send("Target.attachToTarget", {{"targetId", target["targetId"]}, {"flatten", true}}, "");
      session_ = attached["sessionId"].get<std::string>();
    } catch (const std::exception& e) {
      const std::string why = e.what();
      stop();
      throw BrowserUnavailable("chromium (" + chromium.string() + ") did not start: " + why + "\n" +
                               log());
    }
  }

  ~Browser() { stop(); }
  Browser(const Browser&) = delete;
  Browser& operator=(const Browser&) = delete;

  std::string product() const {
    // (get_ref, not value(): GCC 12 at -O3 sees a null dereference in
    // nlohmann's from_json when this is inlined)
    const auto it = version_.find("product");
    return it != version_.end() && it->is_string() ? it->get_ref<const std::string&>()
                                                   : std::string("?");
  }
  std::string log() const {
    std::ifstream in(log_path_);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
  }

  // A protocol command on the page; returns its result, throws on an error
  // answer or when none comes within `patience`.
  json call(const std::string& method, const json& params = json::object(),
            ms patience = kCallPatience) {
    return send(method, params, session_, patience);
  }

  // Emulates a screen of width x height CSS pixels (mobile: a phone's
  // viewport rules, as with <meta name="viewport">).
  void set_screen(int width, int height, bool mobile) {
    call("Emulation.setDeviceMetricsOverride",
         {{"width", width}, {"height", height}, {"deviceScaleFactor", 1}, {"mobile", mobile}});
  }

  // Opens `url` and returns once the page's document is that URL's (its
  // scripts may still be starting).
  void navigate(const std::string& url) {
    const json r = call("Page.navigate", {{"url", url}});
    if (r.contains("errorText")) {
      throw std::runtime_error("navigating to " + url + " failed: " + r["errorText"].dump());
    }
    const auto deadline = std::chrono::steady_clock::now() + kCallPatience;
    for (std::string at;;) {
      try {
        // (while the old document goes, evaluating may fail: try again).
        // Returns once the new document is parsed and its inline scripts have
        // run; not at 'complete', which a page with an endless MJPEG stream
        // never reaches. Before that the DOM is partial (a large inline SVG
        // shows some of its elements).
        at = evaluate(
                 "document.documentElement && document.readyState !== 'loading' ? "
                 "location.href : ''")
                 .get<std::string>();
        if (at == url) return;
      } catch (const std::exception&) {
      }
      if (std::chrono::steady_clock::now() > deadline) {
        throw std::runtime_error("the browser did not open " + url + " (it shows '" + at + "')");
      }
      std::this_thread::sleep_for(ms(50));
    }
  }

  // Evaluates a JavaScript expression in the page; its value (by value).
  json evaluate(const std::string& expression) {
    const json r = call("Runtime.evaluate", {{"expression", expression}, {"returnByValue", true}});
    if (r.contains("exceptionDetails")) {
      throw std::runtime_error("the page threw on `" + expression +
                               "`: " + r["exceptionDetails"].dump());
    }
    return r["result"].value("value", json());
  }

  // Evaluates `expression` (a JSON-able value) every 200 ms until `done`
  // holds for it; returns that value, or nullopt after `patience` with the
  // last value in `last`.
  std::optional<json> wait_for(const std::string& expression,
                               const std::function<bool(const json&)>& done, ms patience,
                               json* last = nullptr) {
    const auto deadline = std::chrono::steady_clock::now() + patience;
    for (;;) {
      json v = evaluate(expression);
      if (done(v)) return v;
      if (last != nullptr) *last = v;
      if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
      std::this_thread::sleep_for(ms(200));
    }
  }

  // A PNG of what the page shows now.
  std::string screenshot() {
    return base64_decode(call("Page.captureScreenshot", {{"format", "png"}})["data"]);
  }

 private:
  json send(const std::string& method, const json& params, const std::string& session,
            ms patience = kCallPatience) {
    const int id = ++last_id_;
    json m = {{"id", id}, {"method", method}, {"params", params}};
    if (!session.empty()) m["sessionId"] = session;
    std::string data = m.dump();
    data.push_back('\0');
    for (std::size_t done = 0; done < data.size();) {
      const ssize_t n = ::send(write_fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("the browser's pipe is closed (" + method + ")");
      done += static_cast<std::size_t>(n);
    }
    const auto deadline = std::chrono::steady_clock::now() + patience;
    for (;;) {
      // Events and answers to other calls come in between; skip them.
      for (std::size_t nul; (nul = buffer_.find('\0')) != std::string::npos;) {
        json answer = json::parse(buffer_.substr(0, nul), nullptr, false);
        buffer_.erase(0, nul + 1);
        if (!answer.is_object() || answer.value("id", -1) != id) continue;
        if (answer.contains("error")) {
          throw std::runtime_error(method + " failed: " + answer["error"].dump());
        }
        return answer.value("result", json::object());
      }
      const auto left = std::chrono::duration_cast<ms>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) throw std::runtime_error("no answer to " + method + " in time");
      pollfd p{read_fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1000))) <= 0) continue;
      char chunk[65536];
      const ssize_t n = ::recv(read_fd_, chunk, sizeof chunk, 0);
      if (n <= 0) throw std::runtime_error("the browser closed its pipe (" + method + ")");
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  // Asks the browser to close, then ends its process group.
  void stop() {
    if (pid_ <= 0) return;
    try {
      if (!session_.empty() || last_id_ > 0) send("Browser.close", {}, "", ms(10000));
    } catch (const std::exception&) {
      // it may close the pipe before answering, or be gone already
    }
    // Wait for it without reaping it, so its process group id stays taken
    // until the group is killed.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (;;) {
      siginfo_t info{};
      if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
          info.si_pid == pid_) {
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) break;
      std::this_thread::sleep_for(ms(50));
    }
    ::kill(-pid_, SIGKILL);  // the group: the browser and any helper left
    int status = 0;
    ::waitpid(pid_, &status, 0);
    ::close(write_fd_);
    ::close(read_fd_);
    pid_ = -1;
  }

  std::filesystem::path log_path_;
  pid_t pid_ = -1;
  int write_fd_ = -1;
  int read_fd_ = -1;
  int last_id_ = 0;
  std::string buffer_;
  std::string session_;
  json version_;
};

// Starts Chromium with its profile in `dir`, or skips the running test case
// (returns nullptr) when it is not installed or does not start; `who` names
// the tests that need it in the skip message.
inline std::unique_ptr<Browser> start_browser_or_skip(const std::filesystem::path& dir, int width,
                                                      int height, const std::string& who) {
  const auto chromium = find_chromium();
  if (!chromium) {
    const char* chosen = std::getenv("LOOKOUT_CHROMIUM");
    skip(chosen != nullptr && *chosen
             ? std::string("$LOOKOUT_CHROMIUM (") + chosen + ") is not an executable: " + who +
                   " need Chromium"
             : "chromium is not installed (not at /usr/bin/chromium nor on PATH; "
               "scripts/install-deps.sh installs it): " +
                   who + " need it");
    return nullptr;
  }
  try {
    auto browser = std::make_unique<Browser>(*chromium, dir, width, height);
    MESSAGE("browser: ", browser->product());
    return browser;
  } catch (const BrowserUnavailable& e) {
    skip(std::string(e.what()));
    return nullptr;
  }
}

}  // namespace lookout::test
