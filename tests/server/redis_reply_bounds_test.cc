// Found by redis_reply_fuzz: hiredis 0.14 calloc()s an array of whatever
// length a reply announces, and aborts the process when that fails; a
// broken or hostile Redis could kill the server with "*2000000000\r\n".
// The server's reader (BoundedReplyFunctions) refuses such replies before
// allocating, on the real connection as on the parser the tests use.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "server/redis/redis_connection.h"
#include "tests/testing/fake_script_executor.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/tcp_listener.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::ParseResp;
using ::crossbridge::testing::StatusIs;
using ::crossbridge::testing::TcpListener;
using ::testing::HasSubstr;

TEST(RedisReplyBoundsTest, HugeArraysAndStringsAreRefusedBeforeAllocating) {
  EXPECT_THAT(ParseResp("*2000000000\r\n"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseResp("*477777777\r\n:0\r\n"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseResp(absl::StrCat("*", kMaxReplyElements + 1, "\r\n")),
              StatusIs(absl::StatusCode::kInvalidArgument));
  const std::string big(kMaxReplyStringBytes + 1, 'x');
  EXPECT_THAT(ParseResp(absl::StrCat("$", big.size(), "\r\n", big, "\r\n")),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // Within the bounds, replies are whole trees freed by freeReplyObject.
  absl::StatusOr<ReplyPtr> ok = ParseResp("*3\r\n:1\r\n$2\r\nab\r\n*1\r\n$-1\r\n");
  ASSERT_THAT(ok, IsOk());
  ASSERT_EQ((*ok)->elements, 3u);
  EXPECT_EQ((*ok)->element[0]->integer, 1);
  EXPECT_EQ(std::string((*ok)->element[1]->str, (*ok)->element[1]->len), "ab");
  EXPECT_EQ((*ok)->element[2]->element[0]->type, REDIS_REPLY_NIL);
}

// A fake Redis on a real socket that answers every command with `reply`.
TEST(RedisReplyBoundsTest, TheConnectionRefusesAHostileReplyAndSaysWhy) {
  TcpListener listener;
  ASSERT_THAT(listener.Open(), IsOk());
  std::thread fake([&] {
    const int fd = accept(listener.fd(), nullptr, nullptr);
    if (fd < 0) return;
    char buf[256];
    (void)read(fd, buf, sizeof(buf));  // PING
    const std::string pong = "+PONG\r\n";
    (void)write(fd, pong.data(), pong.size());
    (void)read(fd, buf, sizeof(buf));  // the command
    const std::string hostile = "*2000000000\r\n";
    (void)write(fd, hostile.data(), hostile.size());
    (void)read(fd, buf, sizeof(buf));  // until the client closes
    close(fd);
  });
  absl::StatusOr<std::unique_ptr<RedisConnection>> conn = RedisConnection::Connect(
      {"127.0.0.1", listener.port(), 0, "", absl::Seconds(2)});
  ASSERT_THAT(conn, IsOk());
  ASSERT_THAT((*conn)->SetIoTimeout(absl::Seconds(2)), IsOk());
  EXPECT_THAT((*conn)->Command({"GET", "k"}),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("refused a reply: an array of 2000000000 elements")));
  conn->reset();
  fake.join();
}

}  // namespace
}  // namespace crossbridge
