// SPDX-License-Identifier: MIT
#pragma once

//! \file runtime.h
//! \cond internal
//! The non-template machinery every run uses: reference counting, cancellation scopes, the
//! per-thread trampoline that keeps synchronous completions from recursing, and the library's
//! timer service (one thread, one QTimer, many deadlines). Not public API: it may change.

#include <kompoz/types.h>

#include <QMutex>
#include <QVarLengthArray>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <type_traits>
#include <utility>

#if defined(__SANITIZE_THREAD__)
#    define KOMPOZ_TSAN 1
#elif defined(__has_feature)
#    if __has_feature(thread_sanitizer)
#        define KOMPOZ_TSAN 1
#    endif
#endif

#ifdef KOMPOZ_TSAN
extern "C" void __tsan_acquire(void *addr);
extern "C" void __tsan_release(void *addr);
//! Happens-before edges through code ThreadSanitizer cannot see (an uninstrumented QtCore).
#    define KOMPOZ_TSAN_RELEASE(p) __tsan_release(const_cast<void *>(static_cast<const void *>(p)))
#    define KOMPOZ_TSAN_ACQUIRE(p) __tsan_acquire(const_cast<void *>(static_cast<const void *>(p)))
#else
#    define KOMPOZ_TSAN_RELEASE(p) ((void)0)
#    define KOMPOZ_TSAN_ACQUIRE(p) ((void)0)
#endif

namespace kompoz::detail {

#ifdef KOMPOZ_TSAN
// ThreadSanitizer sees pthread mutexes, not the futex inside an uninstrumented QtCore: under
// TSan the library's own locks are std::mutex, so it sees their happens-before edges.
using Mutex = std::mutex;
#else
using Mutex = QBasicMutex;
#endif

//! A function handed to another thread's event loop (QMetaObject::invokeMethod with a queued or
//! blocking-queued connection). QtCore hands the slot object over under its own locks, which
//! ThreadSanitizer cannot see, so without these edges everything the posting thread wrote before
//! the post looks unordered with the call in the receiving thread, and the call with the slot
//! object's destruction (Qt may drop the last reference in either thread). The copy Qt keeps is
//! move-constructed inside invokeMethod, after Qt allocated its slot object: it releases there.
//! The call and the destructor acquire first, and the call releases when it returns. Without
//! TSan the macros are empty and this is just the function.
template<typename Fn>
class QueuedCall
{
public:
    explicit QueuedCall(Fn fn) : m_fn(std::move(fn)) { }
    QueuedCall(QueuedCall &&o) noexcept(std::is_nothrow_move_constructible_v<Fn>)
        : m_fn(std::move(o.m_fn))
    {
        KOMPOZ_TSAN_RELEASE(this);
    }
    QueuedCall(const QueuedCall &) = delete;
    QueuedCall &operator=(const QueuedCall &) = delete;
    QueuedCall &operator=(QueuedCall &&) = delete;
    ~QueuedCall() { KOMPOZ_TSAN_ACQUIRE(this); } // before m_fn's own destructor runs
    void operator()()
    {
        KOMPOZ_TSAN_ACQUIRE(this);
        struct Done
        {
            QueuedCall *self;
            ~Done() { KOMPOZ_TSAN_RELEASE(self); }
        } done {this};
        m_fn();
    }

private:
    Fn m_fn;
};

template<typename Fn>
QueuedCall<std::decay_t<Fn>> queuedCall(Fn &&fn)
{
    return QueuedCall<std::decay_t<Fn>>(std::forward<Fn>(fn));
}

//! QMutexLocker for detail::Mutex.
class Locker
{
public:
    explicit Locker(Mutex &mutex) : m_mutex(&mutex) { m_mutex->lock(); }
    ~Locker()
    {
        if (m_locked)
            m_mutex->unlock();
    }
    Locker(const Locker &) = delete;
    Locker &operator=(const Locker &) = delete;
    void unlock()
    {
        m_mutex->unlock();
        m_locked = false;
    }
    void relock()
    {
        m_mutex->lock();
        m_locked = true;
    }

private:
    Mutex *m_mutex;
    bool m_locked = true;
};

//! Intrusive reference count: one allocation per object, no control block.
class KOMPOZ_EXPORT RefCounted
{
public:
    RefCounted(const RefCounted &) = delete;
    RefCounted &operator=(const RefCounted &) = delete;
    void ref() noexcept { m_refs.fetch_add(1, std::memory_order_relaxed); }
    void deref() noexcept
    {
        if (m_refs.fetch_sub(1, std::memory_order_acq_rel) == 1)
            delete this;
    }

protected:
    RefCounted() = default;
    virtual ~RefCounted();

private:
    std::atomic<int> m_refs {1};
};

//! Owning pointer for RefCounted objects. `adopt` takes over the initial reference.
template<typename X>
class Ref
{
public:
    Ref() = default;
    static Ref adopt(X *p) noexcept
    {
        Ref r;
        r.m_p = p;
        return r;
    }
    explicit Ref(X *p) noexcept : m_p(p)
    {
        if (m_p)
            m_p->ref();
    }
    Ref(const Ref &o) noexcept : Ref(o.m_p) { }
    Ref(Ref &&o) noexcept : m_p(std::exchange(o.m_p, nullptr)) { }
    Ref &operator=(Ref o) noexcept
    {
        std::swap(m_p, o.m_p);
        return *this;
    }
    ~Ref()
    {
        if (m_p)
            m_p->deref();
    }
    X *get() const noexcept { return m_p; }
    X *operator->() const noexcept { return m_p; }
    explicit operator bool() const noexcept { return m_p != nullptr; }
    X *release() noexcept { return std::exchange(m_p, nullptr); }

private:
    X *m_p = nullptr;
};

//! Something a run is waiting on that can be told to stop: a task's QFuture, a place in a
//! limiter's queue, a child scope.
class KOMPOZ_EXPORT Cancelable : public RefCounted
{
public:
    virtual void cancel() = 0;
};

//! A run's cancellation scope. Cancelling it cancels everything attached to it, and scopes
//! attached below it (a timeout's inner run, a parallel child). The root scope of a run that
//! returned a QFuture also reports the caller's `QFuture::cancel()`, which Qt 6.4 tells nobody
//! about (see qt64-pitfalls.md #2): probeCanceled() reads it, and the timer service sweeps it.
class KOMPOZ_EXPORT Scope : public Cancelable
{
public:
    explicit Scope(Scope *parent = nullptr);
    ~Scope() override;

    //! True once this scope or an ancestor was cancelled.
    bool isCanceled() const;
    void cancel() override;
    //! Attaches `c` (takes a reference). Returns false, attaching nothing, when the scope is
    //! already cancelled: the caller then cancels `c` itself.
    bool attach(Cancelable *c);
    //! Detaches `c` if still attached (drops the reference). Safe to call twice.
    void detach(Cancelable *c);

    Scope *parent() const { return m_parent; }

protected:
    //! Root scopes override this to look at the caller's side (the QFuture they handed out).
    virtual bool probeCanceled() const { return false; }
    //! Called once when the scope is cancelled, after the attached objects were.
    virtual void onCanceled() { }

private:
    Scope *m_parent; // owned reference, immutable
    std::atomic<bool> m_canceled {false};
    Mutex m_mutex;
    QVarLengthArray<Cancelable *, 2> m_attached; // guarded by m_mutex
};

//! Work that a trampoline runs later in the same thread.
class KOMPOZ_EXPORT Deferred
{
public:
    virtual ~Deferred();
    virtual void runDeferred() = 0;

private:
    friend class Trampoline;
    Deferred *m_nextDeferred = nullptr;
};

//! Runs `d` now, or, if this thread is already inside a trampoline, after the current item:
//! a limiter that admits the next waiter from inside a completion would otherwise recurse once
//! per queued run (100,000 deep in a burst).
class KOMPOZ_EXPORT Trampoline
{
public:
    static void run(Deferred *d);
};

//! A deadline the timer service keeps. Intrusive: the service allocates nothing per entry.
class KOMPOZ_EXPORT TimerEntry : public RefCounted
{
public:
    //! Called once, in the timer thread, when the deadline passes (unless removed before).
    virtual void fire() = 0;

private:
    friend class TimerService;
    TimerEntry *m_prev = nullptr; // guarded by the service's mutex
    TimerEntry *m_next = nullptr;
    qint64 m_bucket = -1; // deadline in ms of the steady clock; -1: not scheduled
};

//! A root scope the timer service checks for `QFuture::cancel()` by the caller.
class KOMPOZ_EXPORT WatchedRun : public Scope
{
public:
    using Scope::Scope;
    //! Asked under the service's lock on each sweep: true to take the run off the list and call
    //! sweep() (the caller cancelled it, or it has finished and no longer needs watching).
    virtual bool needsSweep() const = 0;
    virtual void sweep() = 0;

private:
    friend class TimerService;
    WatchedRun *m_prevWatched = nullptr; // guarded by the service's mutex
    WatchedRun *m_nextWatched = nullptr;
    bool m_watched = false;
};

//! The library's own timer thread: one QTimer serves every pending deadline (kept in 1 ms
//! buckets, O(log buckets) to add and O(1) to remove) and the sweep of watched runs.
class KOMPOZ_EXPORT TimerService
{
public:
    static TimerService &instance();

    //! Schedules `e` to fire at `deadline` (steady clock). Takes a reference until it fires or is
    //! removed.
    void add(TimerEntry *e, std::chrono::steady_clock::time_point deadline);
    //! True when `e` was still pending and will not fire; false when it has fired or is firing.
    bool remove(TimerEntry *e);

    void watch(WatchedRun *run);
    void unwatch(WatchedRun *run);

    //! How often watched runs are checked for cancellation by their caller.
    static constexpr std::chrono::milliseconds sweepInterval {20};
    //! How many watched runs one sweep looks at, at most (round-robin).
    static constexpr int sweepBudget = 2048;

    int pendingTimers() const;
    int watchedRuns() const;

    class Private;

private:
    TimerService();
    ~TimerService();
    Private *d;
};

} // namespace kompoz::detail
//! \endcond
