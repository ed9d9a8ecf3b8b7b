// The model file's probe process (app/engine/model_probe.hpp): its memory
// limits, and how each way a probe can end becomes the daemon's message. The
// probes here are real processes (sh, and this test binary forked); the whole
// path with lookoutd and a hostile file is in tests/app/daemon/daemon_test.cpp.
#include "model_probe.hpp"

#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>

using namespace lookout::engine;

namespace {

struct ScratchDir {
  ScratchDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "lookout-probe-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~ScratchDir() { std::filesystem::remove_all(path); }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name) << text;
  }
  std::filesystem::path path;
};

// A probe command: sh running `script`, with "--file=PATH" as its $1.
std::vector<std::string> shell_probe(const std::string& script) {
  return {"/bin/sh", "-c", script, "probe", "--file"};
}

// The message probe_model throws, or "" when it returned.
std::string probe_message(const std::vector<std::string>& command,
                          std::chrono::seconds patience = std::chrono::seconds(30)) {
  try {
    probe_model("/models/m.torchscript", nullptr, command, patience);
    return "";
  } catch (const lookout::ModelError& e) {
    return e.what();
  }
}

// Reserves `bytes` of address space, inaccessible: counted against the
// address space (RLIMIT_AS), not against the data limit (RLIMIT_DATA, which
// counts writable private memory), and costing no memory.
bool can_reserve(std::size_t bytes) {
  void* p = ::mmap(nullptr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return false;
  ::munmap(p, bytes);
  return true;
}

// Lifts this process's soft data and address-space limits to their hard
// ones (the runner may have set some); false when a hard one is finite.
bool lift_limits() {
  for (const int resource : {RLIMIT_DATA, RLIMIT_AS}) {
    rlimit l{};
    if (::getrlimit(resource, &l) != 0 || l.rlim_max != RLIM_INFINITY) return false;
    l.rlim_cur = RLIM_INFINITY;
    if (::setrlimit(resource, &l) != 0) return false;
  }
  return true;
}

// Runs `body` in a forked child and returns its exit status (0 = all held).
template <class Body>
int in_child(Body body) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) ::_exit(body());
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  return WEXITSTATUS(status);
}

}  // namespace

TEST_CASE("what a cgroup has left leaves out the page cache it could drop") {
  ScratchDir cg;
  SUBCASE("memory.max of 1 GB, 600 MB in use of which 300 MB are file cache") {
    cg.write("memory.max", "1000000000\n");
    cg.write("memory.current", "600000000\n");
    cg.write("memory.stat",
             "anon 250000000\nfile 300000000\nactive_file 200000000\n"
             "inactive_file 100000000\nshmem 0\n");
    const auto left = cgroup_memory_left(cg.path.string());
    REQUIRE(left);
    CHECK(*left == 700000000);
  }
  SUBCASE("no limit") {
    cg.write("memory.max", "max\n");
    cg.write("memory.current", "600000000\n");
    CHECK_FALSE(cgroup_memory_left(cg.path.string()));
  }
  SUBCASE("above the limit (it was lowered): nothing left") {
    cg.write("memory.max", "100000000\n");
    cg.write("memory.current", "600000000\n");
    cg.write("memory.stat", "active_file 1000\n");
    CHECK(cgroup_memory_left(cg.path.string()) == std::uintmax_t{0});
  }
  SUBCASE("not a cgroup (v1, or outside one)") {
    CHECK_FALSE(cgroup_memory_left((cg.path / "absent").string()));
  }
}

TEST_CASE(
    "the probe limits its address space by its data limit, where that limit is not enforced") {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  MESSAGE("skipped: sanitizer runtimes need the address space an address limit would refuse");
  return;
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
  MESSAGE("skipped: sanitizer runtimes need the address space an address limit would refuse");
  return;
#endif
#endif
  // qemu-user keeps address-space and data limits to itself (setrlimit says
  // yes and changes nothing), and a runner may have set hard limits.
  const int applies = in_child([] {
    if (!lift_limits()) return 2;
    const rlimit space{std::size_t{64} << 30, std::size_t{64} << 30};
    rlimit read{};
    return ::setrlimit(RLIMIT_AS, &space) == 0 && ::getrlimit(RLIMIT_AS, &read) == 0 &&
                   read.rlim_cur == space.rlim_cur
               ? 0
               : 1;
  });
  if (applies != 0) {
    const char* why = applies == 2
                          ? "skipped: this process has hard memory limits already"
                          : "skipped: memory limits are not applied here (an emulator keeps them)";
    MESSAGE(std::string(why));
    return;
  }
  constexpr std::size_t kData = 512u << 20;
  constexpr std::size_t kBig = std::size_t{4} << 30;
  // A reservation stands in for what a kernel that ignores RLIMIT_DATA lets
  // through: the data limit does not count it, the address-space limit does.
  SUBCASE("the budget from the data limit (a probe started under one)") {
    CHECK(in_child([&] {
            if (!lift_limits()) return 9;
            const rlimit data{kData, RLIM_INFINITY};
            if (::setrlimit(RLIMIT_DATA, &data) != 0) return 10;
            if (!can_reserve(kBig)) return 11;  // the data limit alone lets it through
            limit_probe_address_space();
            rlimit space{};
            ::getrlimit(RLIMIT_AS, &space);
            if (space.rlim_cur == RLIM_INFINITY) return 12;
            if (can_reserve(kBig)) return 13;        // refused now
            if (!can_reserve(kData / 2)) return 14;  // but a good model's share fits
            return 0;
          }) == 0);
  }
  SUBCASE("the budget the parent passes, which sets the data limit too") {
    CHECK(in_child([&] {
            if (!lift_limits()) return 9;
            ::setenv("LOOKOUT_PROBE_MEMORY_LIMIT", std::to_string(kData).c_str(), 1);
            limit_probe_address_space();
            rlimit data{}, space{};
            ::getrlimit(RLIMIT_DATA, &data);
            ::getrlimit(RLIMIT_AS, &space);
            if (data.rlim_cur != kData) return 21;
            if (space.rlim_cur == RLIM_INFINITY) return 22;
            if (can_reserve(kBig)) return 23;
            if (!can_reserve(kData / 2)) return 24;
            return 0;
          }) == 0);
  }
  SUBCASE("without a budget (a probe run by hand), nothing changes") {
    CHECK(in_child([&] {
            if (!lift_limits()) return 9;
            ::unsetenv("LOOKOUT_PROBE_MEMORY_LIMIT");
            limit_probe_address_space();
            rlimit space{};
            ::getrlimit(RLIMIT_AS, &space);
            return space.rlim_cur == RLIM_INFINITY && can_reserve(kBig) ? 0 : 30;
          }) == 0);
  }
}

TEST_CASE("each way a probe ends becomes a message naming the file") {
  SUBCASE("accepted") {
    CHECK(probe_message(shell_probe("exit 0")).empty());
  }
  SUBCASE("refused: its last line is the message") {
    const std::string m = probe_message(shell_probe(
        "echo 'loading' >&2; echo \"<3>${1#--file=}: cannot load as TorchScript: bad zip\" >&2; "
        "exit 65"));
    CHECK(m == "/models/m.torchscript: cannot load as TorchScript: bad zip");
  }
  SUBCASE("out of memory, as libtorch's error or as an uncaught std::bad_alloc") {
    for (const char* script :
         {"echo '<3>x: cannot load as TorchScript: out of memory' >&2; exit 65",
          "echo \"terminate called after throwing an instance of 'std::bad_alloc'\" >&2; "
          "kill -ABRT $$"}) {
      CAPTURE(script);
      const std::string m = probe_message(shell_probe(script));
      CHECK(m.find("/models/m.torchscript: reading it needed more than") == 0);
    }
  }
  SUBCASE("killed (what the OOM killer does)") {
    const std::string m = probe_message(shell_probe("kill -KILL $$"));
    CHECK(m.find("/models/m.torchscript: reading it got the check process killed (SIGKILL)") == 0);
  }
  SUBCASE("crashed") {
    const std::string m = probe_message(shell_probe("echo 'last thing said' >&2; kill -SEGV $$"));
    CHECK(m.find(
              "/models/m.torchscript: reading it crashed the check process (signal 11, SIGSEGV)") ==
          0);
    CHECK(m.find("(last words: last thing said)") != std::string::npos);
  }
  SUBCASE("too slow: stopped after its patience") {
    const auto started = std::chrono::steady_clock::now();
    const std::string m = probe_message(shell_probe("exec sleep 60"), std::chrono::seconds(1));
    CHECK(m.find("/models/m.torchscript: reading it took longer than 1 s") == 0);
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(30));
  }
  SUBCASE("a program that cannot be started: loaded without a probe (logged)") {
    CHECK(probe_message({"/nonexistent/lookoutd", "--probe-model"}).empty());
  }
  SUBCASE("the path reaches the probe joined to its last argument") {
    const std::string m =
        probe_message(shell_probe("[ \"$1\" = --file=/models/m.torchscript ] && [ $# -eq 1 ] || { "
                                  "echo \"got: $*\" >&2; exit 3; }"));
    CHECK(m.empty());
  }
}

TEST_CASE("the probe and the load read one sealed copy, whatever happens to the file") {
  ScratchDir dir;
  const auto file = dir.path / "model.torchscript";
  dir.write("model.torchscript", "PK\x03\x04 the bytes that were checked");
  ModelSnapshot snapshot(file.string());
  REQUIRE(snapshot.fd() >= 0);
  CHECK(snapshot.size() == 32);
  // The file is replaced, then overwritten in place: the copy stays.
  dir.write("next.torchscript", "PK\x03\x04 something else");
  std::filesystem::rename(dir.path / "next.torchscript", file);
  dir.write("model.torchscript", "garbage");
  const auto read = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  };
  CHECK(read(snapshot.path()) == "PK\x03\x04 the bytes that were checked");
  CHECK(::write(snapshot.fd(), "x", 1) < 0);  // read-only, and sealed
  // The probe reads the copy as its descriptor 4, and its words name the file.
  const std::string checks =
      "[ \"$1\" = --file=/proc/self/fd/4 ] || { echo \"got $1\" >&2; exit 3; }; "
      "grep -q 'bytes that were checked' /proc/self/fd/4 || { echo 'not the copy' >&2; exit 4; }; "
      "echo \"<3>${1#--file=}: cannot load as TorchScript: test\" >&2; exit 65";
  std::string message;
  try {
    probe_model(file.string(), &snapshot, shell_probe(checks), std::chrono::seconds(30));
  } catch (const lookout::ModelError& e) {
    message = e.what();
  }
  CHECK(message == file.string() + ": cannot load as TorchScript: test");
  // Missing files, directories and devices are refused naming them.
  for (const std::string& bad :
       std::vector<std::string>{(dir.path / "absent").string(), dir.path.string(), "/dev/zero"}) {
    CAPTURE(bad);
    try {
      ModelSnapshot refused(bad);
      FAIL("no error");
    } catch (const lookout::ModelError& e) {
      CHECK(std::string(e.what()).rfind(bad + ":", 0) == 0);
    }
  }
}
