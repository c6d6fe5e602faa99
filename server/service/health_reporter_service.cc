#include "server/service/health_reporter_service.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"

namespace crossbridge {
namespace {

v1::DependencyStatus StateToProto(DependencyState state) {
  switch (state) {
    case DependencyState::kUnknown: return v1::STATUS_UNKNOWN;
    case DependencyState::kServing: return v1::STATUS_SERVING;
    case DependencyState::kNotServing: return v1::STATUS_NOT_SERVING;
    case DependencyState::kDisabled: return v1::STATUS_DISABLED;
  }
  return v1::DEPENDENCY_STATUS_UNSPECIFIED;
}

void ToProto(const DependencySnapshot& s, v1::DependencyHealth* out) {
  out->set_name(s.name);
  out->set_status(StateToProto(s.state));
  out->set_consecutive_failures(static_cast<uint32_t>(s.consecutive_failures));
  out->set_last_latency_ms(absl::ToInt64Milliseconds(s.last_latency));
  out->set_last_error(s.last_error);
  if (s.last_check_time != absl::InfinitePast()) {
    const int64_t us = absl::ToUnixMicros(s.last_check_time);
    out->mutable_last_check_time()->set_seconds(us / 1'000'000);
    out->mutable_last_check_time()->set_nanos(static_cast<int32_t>(us % 1'000'000) * 1000);
  }
  out->set_check_type(std::string(CheckTypeName(s.check_type)));
  out->set_target(s.target);
  out->set_failure_threshold(static_cast<uint32_t>(s.failure_threshold));
}

}  // namespace

grpc::ServerUnaryReactor* HealthReporterService::GetHealth(
    grpc::CallbackServerContext* context, const v1::GetHealthRequest*,
    v1::HealthReport* response) {
  bool all_serving = true;
  for (const DependencySnapshot& s : registry_.Snapshot()) {
    ToProto(s, response->add_dependencies());
    all_serving = all_serving && s.state != DependencyState::kNotServing;
  }
  response->set_status(all_serving ? v1::STATUS_SERVING : v1::STATUS_NOT_SERVING);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* HealthReporterService::ReportOutcome(
    grpc::CallbackServerContext* context, const v1::ReportOutcomeRequest* request,
    v1::ReportOutcomeResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (request->provider().empty()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 "provider: must not be empty"));
    return reactor;
  }
  const auto provider = config_.providers.find(request->provider());
  if (provider != config_.providers.end() && request->success()) {
    advisor_.RecordSuccess(provider->second.retry_policy);
  }
  std::string error;
  if (!request->success()) {
    error = request->code().empty() ? "reported failure"
                                    : absl::StrCat("reported ", request->code().substr(0, 64));
  }
  registry_.Report(
      request->provider(), request->success(),
      absl::Milliseconds(static_cast<int64_t>(
          std::min<uint64_t>(request->latency_ms(), uint64_t{1} << 40))),
      error, [reactor, response](absl::StatusOr<DependencySnapshot> s) {
        if (!s.ok()) {
          reactor->Finish(ToGrpcStatus(absl::Status(
              s.status().code(), absl::StrCat("provider: ", s.status().message()))));
          return;
        }
        ToProto(*s, response->mutable_dependency());
        reactor->Finish(grpc::Status::OK);
      });
  return reactor;
}

}  // namespace crossbridge
