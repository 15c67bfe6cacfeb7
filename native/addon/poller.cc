// The Poller binding (see poller.h). Runs in a Node process of pynwheel, on its event loop.
#include "poller.h"

#include "args.h"
#include "errors.h"
#include "exports.h"

// The libuv side lives apart from the JS object: uv_close finishes on a later loop turn,
// possibly after the Poller has been collected, so the handle frees itself in OnClosed.
struct PollHandle {
  uv_poll_t poll;
  Poller* owner = nullptr;  // null once the Poller is closed or gone
  bool closing = false;
  // Closes the handle if the Node environment (e.g. a worker) ends first, as libuv
  // handles must be closed before the loop can be.
  napi_async_cleanup_hook_handle cleanup = nullptr;
};

static void OnClosed(uv_handle_t* handle) {
  PollHandle* h = static_cast<PollHandle*>(handle->data);
  // Unregisters the hook, or tells the environment it has finished if it already ran.
  if (h->cleanup != nullptr) napi_remove_async_cleanup_hook(h->cleanup);
  delete h;
}

static void CloseHandle(PollHandle* h) {
  h->owner = nullptr;
  h->closing = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&h->poll), OnClosed);
}

Napi::Function Poller::Define(Napi::Env env) {
  return DefineClass(env, "Poller",
                     {
                         InstanceMethod("start", &Poller::Start),
                         InstanceMethod("stop", &Poller::Stop),
                         InstanceMethod("close", &Poller::Close),
                         InstanceMethod("ref", &Poller::Ref),
                         InstanceMethod("unref", &Poller::Unref),
                     });
}

Poller::Poller(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Poller>(info) {
  Napi::Env env = info.Env();
  int fd;
  if (!GetFd(info, 0, "fd", &fd)) return;
  if (!info[1].IsFunction()) {
    Napi::TypeError::New(env, "The \"callback\" argument must be a function").ThrowAsJavaScriptException();
    return;
  }
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    Napi::Error::New(env, "Poller: no libuv loop for this environment").ThrowAsJavaScriptException();
    return;
  }

  PollHandle* h = new PollHandle();
  int rc = uv_poll_init(loop, &h->poll, fd);
  if (rc < 0) {
    delete h;  // uv_poll_init registers nothing with the loop when it fails
    UvError(env, rc, "uv_poll_init").ThrowAsJavaScriptException();
    return;
  }
  h->poll.data = h;
  h->owner = this;
  if (napi_add_async_cleanup_hook(env, OnEnvCleanup, h, &h->cleanup) != napi_ok) {
    h->cleanup = nullptr;
    CloseHandle(h);
    Napi::Error::New(env, "Poller: could not register an environment cleanup hook").ThrowAsJavaScriptException();
    return;
  }
  // The async context makes the callback show up properly in async_hooks / AsyncLocalStorage.
  if (napi_async_init(env, info.This(), Napi::String::New(env, "PynwheelPoller"), &async_context_) != napi_ok) {
    async_context_ = nullptr;
    CloseHandle(h);
    Napi::Error::New(env, "Poller: could not create an async context").ThrowAsJavaScriptException();
    return;
  }
  handle_ = h;
  callback_ = Napi::Persistent(info[1].As<Napi::Function>());
}

Poller::~Poller() {
  // Reached when JS drops an unclosed, inactive Poller, or when construction failed.
  if (handle_ != nullptr) CloseHandle(handle_);
  if (async_context_ != nullptr) napi_async_destroy(Env(), async_context_);
}

void Poller::Pin() {
  if (!pinned_) {
    Napi::ObjectWrap<Poller>::Ref();
    pinned_ = true;
  }
}

void Poller::Unpin() {
  if (pinned_) {
    Napi::ObjectWrap<Poller>::Unref();
    pinned_ = false;
  }
}

Napi::Value Poller::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool readable, writable;
  if (!GetBool(info, 0, "readable", &readable) || !GetBool(info, 1, "writable", &writable)) {
    return env.Undefined();
  }
  if (handle_ == nullptr) {
    Napi::Error::New(env, "Poller: start() after close()").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int events = 0;
  // UV_DISCONNECT (EPOLLRDHUP): a peer that shut down is reported as readable, so JS reads the EOF.
  if (readable) events |= UV_READABLE | UV_DISCONNECT;
  if (writable) events |= UV_WRITABLE;
  if (events == 0) return Stop(info);
  // Calling uv_poll_start again just replaces the event mask.
  int rc = uv_poll_start(&handle_->poll, events, OnPoll);
  if (rc < 0) {
    UvError(env, rc, "uv_poll_start").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Pin();
  return env.Undefined();
}

Napi::Value Poller::Stop(const Napi::CallbackInfo& info) {
  if (handle_ != nullptr) {
    int rc = uv_poll_stop(&handle_->poll);
    if (rc < 0) {
      UvError(info.Env(), rc, "uv_poll_stop").ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
  }
  Unpin();
  return info.Env().Undefined();
}

Napi::Value Poller::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (handle_ == nullptr) return env.Undefined();
  CloseHandle(handle_);
  handle_ = nullptr;
  // Let go of the callback (and whatever its closure holds) and of the object itself.
  callback_.Reset();
  if (async_context_ != nullptr) {
    napi_async_destroy(env, async_context_);
    async_context_ = nullptr;
  }
  Unpin();
  return env.Undefined();
}

Napi::Value Poller::Ref(const Napi::CallbackInfo& info) {
  if (handle_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(&handle_->poll));
  return info.Env().Undefined();
}

Napi::Value Poller::Unref(const Napi::CallbackInfo& info) {
  if (handle_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(&handle_->poll));
  return info.Env().Undefined();
}

void Poller::OnPoll(uv_poll_t* poll, int status, int events) {
  PollHandle* h = static_cast<PollHandle*>(poll->data);
  if (h->owner != nullptr) h->owner->Dispatch(status, events);
}

void Poller::OnEnvCleanup(napi_async_cleanup_hook_handle, void* arg) {
  PollHandle* h = static_cast<PollHandle*>(arg);
  if (h->closing) return;  // OnClosed will report back
  // The environment is going away: JS can no longer be called, just forget the handle.
  if (h->owner != nullptr) h->owner->handle_ = nullptr;
  CloseHandle(h);
}

void Poller::Dispatch(int status, int events) {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  // Held in this scope, the object outlives the call even if the callback closes it.
  Napi::Object self = Value();
  napi_value argv[3];
  if (status < 0) {
    argv[0] = UvError(env, status, "uv_poll").Value();
    argv[1] = Napi::Boolean::New(env, false);
    argv[2] = Napi::Boolean::New(env, false);
  } else {
    argv[0] = env.Null();
    argv[1] = Napi::Boolean::New(env, (events & (UV_READABLE | UV_DISCONNECT)) != 0);
    argv[2] = Napi::Boolean::New(env, (events & UV_WRITABLE) != 0);
  }

  // The C call, not FunctionReference::MakeCallback: node-addon-api turns a failed call
  // into a fatal error, and a throwing callback must instead be an uncaught exception.
  napi_value result;
  napi_status rc = napi_make_callback(env, async_context_, self, callback_.Value(), 3, argv, &result);
  bool pending = false;
  if (rc != napi_ok && napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_value exception;
    if (napi_get_and_clear_last_exception(env, &exception) == napi_ok) napi_fatal_exception(env, exception);
  }

  // libuv stops the handle on its own after an error (POLLERR); stop holding the object then.
  if (handle_ != nullptr && !uv_is_active(reinterpret_cast<uv_handle_t*>(&handle_->poll))) Unpin();
}

void InitPoller(Napi::Env env, Napi::Object exports) {
  exports.Set("Poller", Poller::Define(env));
}
