// InitLogging's sinks: the file sink in both formats, rotation, the sinks
// being fixed by the first call, and the error for a file that cannot be
// opened. spdlog's registry is process-global: every test starts and ends
// with ResetLoggingForTesting(), so none depends on another's calls.
#include "common/logging.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/config.h"
#include "tests/testing/status_matchers.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::Eq;
using ::testing::MatchesRegex;
using ::testing::SizeIs;
using ::testing::StartsWith;

constexpr char kTimestamp[] =
    "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z";

// Parses one line as a JSON object whose values are all strings (what the
// json format writes), strictly by RFC 8259: nullopt for anything else,
// including trailing text or a raw control character in a string.
std::optional<std::string> ParseJsonString(absl::string_view s,
                                           std::size_t* pos) {
  if (*pos >= s.size() || s[*pos] != '"') return std::nullopt;
  std::string out;
  for (++*pos; *pos < s.size(); ++*pos) {
    const char c = s[*pos];
    if (c == '"') {
      ++*pos;
      return out;
    }
    if (static_cast<unsigned char>(c) < 0x20) return std::nullopt;
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (++*pos >= s.size()) return std::nullopt;
    switch (s[*pos]) {
      case '"':
        out.push_back('"');
        break;
      case '\\':
        out.push_back('\\');
        break;
      case '/':
        out.push_back('/');
        break;
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'u': {
        // Only what the logger writes: \u00XX for control characters.
        if (*pos + 4 >= s.size()) return std::nullopt;
        const std::string hex(s.substr(*pos + 1, 4));
        if (hex.find_first_not_of("0123456789abcdefABCDEF") !=
            std::string::npos) {
          return std::nullopt;
        }
        const int code = std::stoi(hex, nullptr, 16);
        if (code >= 0x80) return std::nullopt;
        out.push_back(static_cast<char>(code));
        *pos += 4;
        break;
      }
      default:
        return std::nullopt;
    }
  }
  return std::nullopt;  // unterminated
}

std::optional<std::map<std::string, std::string>> ParseJsonObject(
    absl::string_view line) {
  std::map<std::string, std::string> object;
  std::size_t pos = 0;
  if (line.empty() || line[pos++] != '{') return std::nullopt;
  while (true) {
    std::optional<std::string> key = ParseJsonString(line, &pos);
    if (!key || pos >= line.size() || line[pos++] != ':') return std::nullopt;
    std::optional<std::string> value = ParseJsonString(line, &pos);
    if (!value || !object.emplace(*key, *value).second) return std::nullopt;
    if (pos >= line.size()) return std::nullopt;
    const char next = line[pos++];
    if (next == '}') break;
    if (next != ',') return std::nullopt;
  }
  if (pos != line.size()) return std::nullopt;
  return object;
}

// The checker itself: it must reject what is not JSON.
TEST(JsonCheckerTest, AcceptsOnlyObjectsOfStrings) {
  EXPECT_TRUE(ParseJsonObject(R"({"a":"x","b":"q\"\\\n\u0001"})"));
  EXPECT_EQ(ParseJsonObject(R"({"a":"q\"\n\u0001"})")->at("a"), "q\"\n\x01");
  for (const char* bad : {"", "{}x", R"({"a":"x"} )", R"({"a":"x",})",
                          R"({"a":"x"})"
                          "\n",
                          "{\"a\":\"\n\"}", R"({"a":"\x"})", R"({"a":"x)",
                          R"({"a":1})", R"({"a":"x","a":"y"})", R"(["a"])"}) {
    EXPECT_FALSE(ParseJsonObject(bad)) << bad;
  }
}

class LoggingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ResetLoggingForTesting();
    std::string pattern = ::testing::TempDir() + "/logging_test_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    ResetLoggingForTesting();
    std::filesystem::remove_all(dir_);
  }

  // File-only logging at `file` (in the test's directory).
  LoggingConfig FileOnly(const std::string& file,
                         LogFormat format = LogFormat::kText) const {
    LoggingConfig config;
    config.console = false;
    config.file = Path(file);
    config.format = format;
    return config;
  }
  std::string Path(const std::string& name) const {
    return (dir_ / name).string();
  }
  // The file's lines, after flushing every logger.
  std::vector<std::string> Lines(const std::string& name) const {
    spdlog::apply_all(
        [](const std::shared_ptr<spdlog::logger>& logger) { logger->flush(); });
    std::ifstream in(Path(name));
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

  std::filesystem::path dir_;
};

TEST_F(LoggingTest, TextLinesReachTheFile) {
  ASSERT_THAT(InitLogging(FileOnly("app.log")), IsOk());
  Logger("logtest")->info("hello {}", 42);
  Logger("logtest")->debug("below the level");
  Logger("other")->warn("second component");
  EXPECT_THAT(
      Lines("app.log"),
      ElementsAre(MatchesRegex(absl::StrCat(kTimestamp,
                                            " info  \\[logtest\\] hello 42")),
                  MatchesRegex(absl::StrCat(
                      kTimestamp, " warning \\[other\\] second component"))));
}

TEST_F(LoggingTest, ConsoleAndFileEachGetEveryLineOrOnlyTheFile) {
  LoggingConfig both = FileOnly("both.log", LogFormat::kJson);
  both.console = true;
  ASSERT_THAT(InitLogging(both), IsOk());
  ::testing::internal::CaptureStderr();
  Logger("console")->info("to both");
  const std::string err = ::testing::internal::GetCapturedStderr();
  const std::string expected = absl::StrCat(
      "\\{\"ts\":\"", kTimestamp,
      "\",\"level\":\"info\",\"logger\":\"console\",\"msg\":\"to both\"\\}");
  EXPECT_THAT(err, MatchesRegex(expected + "\n"));
  EXPECT_THAT(Lines("both.log"), ElementsAre(MatchesRegex(expected)));

  ResetLoggingForTesting();
  ASSERT_THAT(InitLogging(FileOnly("only.log")), IsOk());
  ::testing::internal::CaptureStderr();
  Logger("console")->error("file only");
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  EXPECT_THAT(Lines("only.log"), SizeIs(1));
}

TEST_F(LoggingTest, JsonLinesAreOneValidObjectPerLine) {
  ASSERT_THAT(InitLogging(FileOnly("app.json", LogFormat::kJson)), IsOk());
  const std::vector<std::string> messages = {
      "plain", "quote \" and backslash \\", "two\nlines\tand tab",
      std::string("control \x01 char"), "caf\xc3\xa9 \xe6\x97\xa5"};
  for (const std::string& message : messages) {
    Logger("jsontest")->info("{}", message);
  }
  Logger("jsontest")->error("last");

  const std::vector<std::string> lines = Lines("app.json");
  ASSERT_THAT(lines, SizeIs(messages.size() + 1));
  for (std::size_t i = 0; i < lines.size(); ++i) {
    SCOPED_TRACE(lines[i]);
    EXPECT_THAT(lines[i], StartsWith("{\"ts\":\""));
    std::optional<std::map<std::string, std::string>> object =
        ParseJsonObject(lines[i]);
    ASSERT_TRUE(object.has_value());
    ASSERT_EQ(object->size(), 4u);
    EXPECT_THAT(object->at("ts"), MatchesRegex(kTimestamp));
    EXPECT_EQ(object->at("logger"), "jsontest");
    if (i < messages.size()) {
      EXPECT_EQ(object->at("level"), "info");
      EXPECT_EQ(object->at("msg"), messages[i]);
    } else {
      EXPECT_EQ(object->at("level"), "error");
      EXPECT_EQ(object->at("msg"), "last");
    }
  }
}

// The msg field is escaped by protobuf's JSON writer: \" \\ \n \r \t, other
// control characters, DEL, < and > as \u00XX / \u003c / \u003e, U+2028 as
// \u2028; other UTF-8 unchanged; bytes that are not UTF-8 become '?'.
TEST_F(LoggingTest, JsonEscapesTheMessageExactly) {
  ASSERT_THAT(InitLogging(FileOnly("exact.json", LogFormat::kJson)), IsOk());
  Logger("exact")->warn("{}", std::string("q\" b\\ n\n r\r t\t c\x01\x1f d\x7f "
                                          "<a>&' caf\xc3\xa9 \xe6\x97\xa5 "
                                          "\xe2\x80\xa8 bad\xff\xfe."));
  Logger("exact")->info("{}", "");
  const std::vector<std::string> lines = Lines("exact.json");
  ASSERT_THAT(lines, SizeIs(2));
  const std::string prefix = "{\"ts\":\"";
  constexpr std::size_t kTsSize = 24;  // 2024-01-02T03:04:05.678Z
  for (const std::string& line : lines) {
    ASSERT_THAT(line, StartsWith(prefix));
    EXPECT_THAT(line.substr(prefix.size(), kTsSize), MatchesRegex(kTimestamp));
  }
  EXPECT_EQ(lines[0].substr(prefix.size() + kTsSize),
            "\",\"level\":\"warning\",\"logger\":\"exact\",\"msg\":"
            "\"q\\\" b\\\\ n\\n r\\r t\\t c\\u0001\\u001f d\\u007f "
            "\\u003ca\\u003e&' caf\xc3\xa9 \xe6\x97\xa5 \\u2028 bad??.\"}");
  EXPECT_EQ(lines[1].substr(prefix.size() + kTsSize),
            "\",\"level\":\"info\",\"logger\":\"exact\",\"msg\":\"\"}");
}

TEST_F(LoggingTest, LaterCallsChangeLevelAndFormatButNotTheSinks) {
  ASSERT_THAT(InitLogging(FileOnly("first.log")), IsOk());
  Logger("reload")->debug("dropped at info");
  Logger("reload")->info("text at info");

  // A reload: new level and format, and sink settings that are ignored.
  LoggingConfig next = FileOnly("second.log", LogFormat::kJson);
  next.level = "debug";
  next.max_files = 9;
  ASSERT_THAT(InitLogging(next), IsOk());
  Logger("reload")->debug("json at debug");
  // A logger created after the reload writes to the same sinks.
  Logger("reload_new")->debug("new logger");

  EXPECT_THAT(
      Lines("first.log"),
      ElementsAre(
          MatchesRegex(
              absl::StrCat(kTimestamp, " info  \\[reload\\] text at info")),
          MatchesRegex(absl::StrCat(
              "\\{\"ts\":\"", kTimestamp,
              "\",\"level\":\"debug\",\"logger\":\"reload\",\"msg\":\"json "
              "at debug\"\\}")),
          MatchesRegex(absl::StrCat(
              "\\{\"ts\":\"", kTimestamp,
              "\",\"level\":\"debug\",\"logger\":\"reload_new\",\"msg\":\"new "
              "logger\"\\}"))));
  EXPECT_FALSE(std::filesystem::exists(Path("second.log")));

  // A bad level on reload changes nothing.
  next.level = "loud";
  EXPECT_THAT(InitLogging(next),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       Eq("logging.level: unknown level \"loud\" "
                          "(trace|debug|info|warn|error|critical|off)")));
  Logger("reload")->debug("still debug");
  EXPECT_THAT(Lines("first.log"), SizeIs(4));
}

TEST_F(LoggingTest, UnopenableFileIsAnErrorAndBuildsNoSinks) {
  const std::string missing_dir = Path("no/such/dir/app.log");
  EXPECT_THAT(
      InitLogging(FileOnly("no/such/dir/app.log")),
      StatusIs(absl::StatusCode::kInvalidArgument,
               Eq(absl::StrCat("logging.file: cannot open ", missing_dir,
                               ": No such file or directory"))));
  // Not created behind the operator's back.
  EXPECT_FALSE(std::filesystem::exists(Path("no")));

  std::filesystem::create_directory(Path("a_directory"));
  EXPECT_THAT(
      InitLogging(FileOnly("a_directory")),
      StatusIs(absl::StatusCode::kInvalidArgument,
               Eq(absl::StrCat("logging.file: cannot open ",
                               Path("a_directory"), ": Is a directory"))));

  // The failed calls built nothing: the next call that succeeds does.
  ASSERT_THAT(InitLogging(FileOnly("good.log")), IsOk());
  Logger("open")->info("after the failures");
  EXPECT_THAT(Lines("good.log"), SizeIs(1));
}

TEST_F(LoggingTest, SinkSettingsALoadedConfigCannotHoldAreErrors) {
  LoggingConfig nowhere;
  nowhere.console = false;
  EXPECT_THAT(InitLogging(nowhere),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       Eq("logging.console: false with no logging.file: logs "
                          "would go nowhere (set logging.file, or console: "
                          "true)")));
  LoggingConfig size = FileOnly("app.log");
  size.max_file_mb = 0;
  EXPECT_THAT(
      InitLogging(size),
      StatusIs(absl::StatusCode::kInvalidArgument,
               Eq("logging.max_file_mb: must be in [1, 10240], got 0")));
  LoggingConfig files = FileOnly("app.log");
  files.max_files = 1001;
  EXPECT_THAT(
      InitLogging(files),
      StatusIs(absl::StatusCode::kInvalidArgument,
               Eq("logging.max_files: must be in [1, 1000], got 1001")));
  EXPECT_FALSE(std::filesystem::exists(Path("app.log")));
}

TEST_F(LoggingTest, FileRotatesAtMaxFileMbKeepingMaxFiles) {
  LoggingConfig config = FileOnly("app.log");
  config.max_file_mb = 1;
  config.max_files = 1;
  ASSERT_THAT(InitLogging(config), IsOk());
  const std::string payload(1000, 'x');
  for (int i = 0; i < 3000; ++i) Logger("rotate")->info("{} {}", i, payload);
  Lines("app.log");  // flushes

  constexpr std::uintmax_t kMiB = 1 << 20;
  ASSERT_TRUE(std::filesystem::exists(Path("app.log")));
  ASSERT_TRUE(std::filesystem::exists(Path("app.1.log")));
  EXPECT_FALSE(std::filesystem::exists(Path("app.2.log")));
  EXPECT_LE(std::filesystem::file_size(Path("app.log")), kMiB);
  EXPECT_LE(std::filesystem::file_size(Path("app.1.log")), kMiB);
  EXPECT_GT(std::filesystem::file_size(Path("app.1.log")), kMiB - 2000);
  // The newest line is in the live file.
  EXPECT_THAT(
      Lines("app.log").back(),
      MatchesRegex(absl::StrCat(kTimestamp, " info  \\[rotate\\] 2999 x+")));
}

// A reload while other threads log: every line arrives whole, in one of the
// two formats.
TEST_F(LoggingTest, ReloadWhileOtherThreadsLog) {
  ASSERT_THAT(InitLogging(FileOnly("app.log")), IsOk());
  constexpr int kThreads = 3;
  constexpr int kLinesEach = 2000;
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &go] {
      while (!go.load()) std::this_thread::yield();
      const std::string component = absl::StrCat("worker", t);
      for (int i = 0; i < kLinesEach; ++i) {
        Logger(component)->info("line {}", i);
      }
    });
  }
  go.store(true);
  for (int i = 0; i < 200; ++i) {
    LoggingConfig next = FileOnly(
        "ignored.log", i % 2 == 0 ? LogFormat::kJson : LogFormat::kText);
    ASSERT_THAT(InitLogging(next), IsOk());
  }
  for (std::thread& thread : threads) thread.join();

  const std::vector<std::string> lines = Lines("app.log");
  EXPECT_THAT(lines, SizeIs(kThreads * kLinesEach));
  const std::string text =
      absl::StrCat(kTimestamp, " info  \\[worker[0-9]\\] line [0-9]+");
  const std::string json = absl::StrCat(
      "\\{\"ts\":\"", kTimestamp,
      "\",\"level\":\"info\",\"logger\":\"worker[0-9]\",\"msg\":\"line "
      "[0-9]+\"\\}");
  for (const std::string& line : lines) {
    ASSERT_THAT(line, ::testing::AnyOf(MatchesRegex(text), MatchesRegex(json)));
  }
  EXPECT_FALSE(std::filesystem::exists(Path("ignored.log")));
}

}  // namespace
}  // namespace crossbridge
