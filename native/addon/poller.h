// Poller: a uv_poll_t on Node's event loop, so JS learns when a raw fd (a socket from
// this addon) is readable or writable without a thread or a busy loop.
//
// Note: libuv's uv_poll_init puts the fd in O_NONBLOCK mode. The Poller does not own the
// fd; close the Poller before closing the fd (libuv forbids closing a polled fd).
// Runs in every Node process of pynwheel (CLI, Node API caller, daemon), as part of the addon.
#pragma once

#include <napi.h>
#include <uv.h>

struct PollHandle;

class Poller : public Napi::ObjectWrap<Poller> {
 public:
  static Napi::Function Define(Napi::Env env);

  explicit Poller(const Napi::CallbackInfo& info);
  ~Poller() override;

 private:
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Stop(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);

  static void OnPoll(uv_poll_t* poll, int status, int events);
  static void OnEnvCleanup(napi_async_cleanup_hook_handle hook, void* arg);
  void Dispatch(int status, int events);

  // While the handle is active the JS object is held strongly, so a poller nobody
  // references still delivers its callbacks instead of being collected mid-watch.
  void Pin();
  void Unpin();

  PollHandle* handle_ = nullptr;  // null once closed
  Napi::FunctionReference callback_;
  napi_async_context async_context_ = nullptr;
  bool pinned_ = false;
};
