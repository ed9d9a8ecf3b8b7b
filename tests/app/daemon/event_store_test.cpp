// The event store in-process, on a real directory: each new best picture
// becomes <id>.jpg (boxes drawn) and <id>-crop.jpg, written through a
// temporary name; retention by count, bytes and age; files an earlier run
// left (old snapshots, half-written temporaries) are found and removed.
#include "event_store.hpp"

#include <utime.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include <doctest/doctest.h>
#include <sys/stat.h>

#include "harness.hpp"

using namespace lookout;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// A noisy 640x480 picture: JPEGs of it are large, so byte limits bite.
FramePtr noisy_picture(unsigned seed) {
  auto frame = Frame::allocate(PixelFormat::RGB24, 640, 480);
  std::mt19937 rng(seed);
  std::uint8_t* p = frame->mutable_plane(0);
  for (std::size_t i = 0; i < frame->planes[0].size; ++i) p[i] = static_cast<std::uint8_t>(rng());
  return frame;
}

std::shared_ptr<const PublishedEvents> best_of(const std::string& id, unsigned seed) {
  auto published = std::make_shared<PublishedEvents>();
  tracking::ObjectState object;
  object.id = id;
  object.class_id = 0;
  object.best_box = {100, 100, 300, 260};
  object.best_score = 0.9f;
  object.has_best = true;
  published->events.new_bests.push_back(object);
  published->events.width = 640;
  published->events.height = 480;
  published->events.class_names =
      std::make_shared<const std::vector<std::string>>(std::vector<std::string>{"thing"});
  published->picture = noisy_picture(seed);
  return published;
}

Config store_config(const fs::path& dir) {
  Config config;
  config.events.directory = dir.string();
  return config;
}

std::vector<std::string> jpegs(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

std::uint64_t written(const EventStore& store) {
  std::vector<protocol::OutputStats> out;
  store.report(out);
  REQUIRE(out.size() == 1);
  return out[0].sent;
}

void wait_written(const EventStore& store, std::uint64_t n) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (written(store) < n && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  REQUIRE(written(store) >= n);
}

bool is_jpeg(const fs::path& file) {
  const std::string bytes = test::read_file(file);
  return bytes.size() > 2 && static_cast<unsigned char>(bytes[0]) == 0xFF &&
         static_cast<unsigned char>(bytes[1]) == 0xD8;
}

}  // namespace

TEST_CASE("each new best picture is a JPEG with its box and a crop; the count is kept") {
  test::TempDir dir;
  const fs::path events = dir / "events";  // made by the store
  EventStore store;
  Config config = store_config(events);
  config.events.max_count = 3;
  store.apply(config, nullptr);
  for (unsigned i = 0; i < 5; ++i) {
    store.publish_events(best_of("1764000000000-" + std::to_string(i + 1), i));
    wait_written(store, i + 1);
  }
  const auto names = jpegs(events);
  // The three newest events, two files each; nothing temporary left.
  CHECK(names == std::vector<std::string>{"1764000000000-3-crop.jpg", "1764000000000-3.jpg",
                                          "1764000000000-4-crop.jpg", "1764000000000-4.jpg",
                                          "1764000000000-5-crop.jpg", "1764000000000-5.jpg"});
  CHECK(is_jpeg(events / "1764000000000-5.jpg"));
  CHECK(is_jpeg(events / "1764000000000-5-crop.jpg"));
  CHECK(fs::file_size(events / "1764000000000-5-crop.jpg") <
        fs::file_size(events / "1764000000000-5.jpg"));
  std::vector<protocol::OutputStats> report;
  store.report(report);
  CHECK(report[0].name == "events");
  CHECK(report[0].state == "writing");
  CHECK(report[0].dropped == 0);
}

TEST_CASE("retention by bytes and by age, including what an earlier run left") {
  test::TempDir dir;
  const fs::path events = dir / "events";
  fs::create_directories(events);
  // An earlier run's snapshot from 30 days ago, and a half-written file.
  dir.write("events/1700000000000-1.jpg", "old");
  dir.write("events/1700000000000-1-crop.jpg", "old");
  dir.write("events/1700000000000-2.jpg.tmp", "cut short");
  dir.write("events/notes.txt", "not ours");
  const auto month_ago = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() -
                                                              std::chrono::hours(24 * 30));
  for (const char* name : {"1700000000000-1.jpg", "1700000000000-1-crop.jpg"}) {
    const utimbuf times{month_ago, month_ago};
    REQUIRE(::utime((events / name).c_str(), &times) == 0);
  }
  EventStore store;
  Config config = store_config(events);
  config.events.max_age_days = 14;
  config.events.max_mb = 1;
  store.apply(config, nullptr);
  for (unsigned i = 0; i < 12; ++i) {
    store.publish_events(best_of("1764000000000-" + std::to_string(i + 10), i));
    wait_written(store, i + 1);
  }
  const auto names = jpegs(events);
  CHECK(std::find(names.begin(), names.end(), "1700000000000-1.jpg") == names.end());
  CHECK(std::find(names.begin(), names.end(), "1700000000000-2.jpg.tmp") == names.end());
  CHECK(std::find(names.begin(), names.end(), "notes.txt") != names.end());  // not ours: kept
  std::uintmax_t bytes = 0;
  for (const auto& entry : fs::directory_iterator(events)) {
    if (entry.path().extension() == ".jpg") bytes += entry.file_size();
  }
  CHECK(bytes <= 1024 * 1024);
  // The newest is always there, and some older ones went.
  CHECK(std::find(names.begin(), names.end(), "1764000000000-21.jpg") != names.end());
  CHECK(std::find(names.begin(), names.end(), "1764000000000-10.jpg") == names.end());
}

TEST_CASE("snapshots off: nothing is written or started") {
  test::TempDir dir;
  EventStore store;
  Config config = store_config(dir / "events");
  config.events.snapshots = false;
  store.apply(config, nullptr);
  store.publish_events(best_of("1764000000000-1", 1));
  std::this_thread::sleep_for(200ms);
  CHECK_FALSE(fs::exists(dir / "events"));
  std::vector<protocol::OutputStats> report;
  store.report(report);
  CHECK(report[0].state == "disabled");
}
