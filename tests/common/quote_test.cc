#include "common/quote.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace crossbridge {
namespace {

using ::testing::HasSubstr;

TEST(QuoteForMessageTest, EscapesAndBounds) {
  EXPECT_EQ(QuoteForMessage("embed"), "\"embed\"");
  EXPECT_EQ(QuoteForMessage("a\x1b]0;pwned\x07"), "\"a\\x1b]0;pwned\\x07\"");
  // Digits after an escape are escaped too, so the text reads back exactly.
  EXPECT_EQ(QuoteForMessage("\xc2\x9b" "31m"), "\"\\xc2\\x9b\\x33\\x31m\"");
  const std::string huge(100 * 1024, 'x');
  const std::string quoted = QuoteForMessage(huge);
  EXPECT_EQ(quoted, "\"" + std::string(64, 'x') + "\"... (102400 bytes)");
  // Escaping cannot blow a bounded prefix up by more than 4x.
  EXPECT_LE(QuoteForMessage(std::string(100 * 1024, '\x01')).size(), 64 * 4 + 32);
}

TEST(FindUnprintableTest, FindsControlsAndBrokenUtf8) {
  EXPECT_EQ(FindUnprintable("user:1 caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            absl::string_view::npos);
  EXPECT_EQ(FindUnprintable("ab\x1b[31m"), 2u);
  EXPECT_EQ(FindUnprintable("ab\x7f"), 2u);
  EXPECT_EQ(FindUnprintable("ab\xc2\x80"), 2u);   // U+0080, C1
  EXPECT_EQ(FindUnprintable("ab\xc2\x9f"), 2u);   // U+009F, C1
  EXPECT_EQ(FindUnprintable("ab\xc2\xa0"), absl::string_view::npos);  // NBSP
  EXPECT_EQ(FindUnprintable("ab\xc3"), 2u);       // truncated
  EXPECT_EQ(FindUnprintable("ab\xc0\xaf"), 2u);   // overlong
  EXPECT_EQ(FindUnprintable("ab\xed\xa0\x80"), 2u);  // surrogate
  EXPECT_EQ(FindUnprintable("ab\xf4\x90\x80\x80"), 2u);  // > U+10FFFF
  EXPECT_EQ(FindUnprintable("\xff"), 0u);
}

TEST(EscapeForTerminalTest, KeepsUtf8AndDisarmsEscapes) {
  EXPECT_EQ(EscapeForTerminal("caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_EQ(EscapeForTerminal("reported \x1b]0;owned\x07"),
            "reported \\x1b]0;owned\\x07");
  EXPECT_EQ(EscapeForTerminal("\xc2\x9b" "2J"), "\\xc2\\x9b2J");
  EXPECT_EQ(EscapeForTerminal("a\\x1b"), "a\\\\x1b");  // no forged escapes
  EXPECT_EQ(EscapeForTerminal("line\nbreak\r"), "line\\x0abreak\\x0d");
  const std::string out = EscapeForTerminal("\xff\xfe");
  EXPECT_EQ(out, "\\xff\\xfe");
}

}  // namespace
}  // namespace crossbridge
