// SPDX-License-Identifier: MIT
#pragma once

//! \file ratelimiter.h
//! Rate limiting: a token bucket (`permits` per `per`, holding at most `burst`). A run that
//! finds a token starts at once; the others wait their turn, first come first served, up to
//! `queueLimit`; beyond that a run is rejected at once with `{false, ctx}`
//! (Outcome::Rejected) and callRejected() is emitted.
//! \code
//! auto api = kompoz::rateLimited(call, /*permits*/ 10, 1s, /*burst*/ 20, /*queueLimit*/ 50);
//! QObject::connect(api.limiter(), &kompoz::RateLimiter::rejectedCountChanged, label, ...);
//! \endcode
//! Waiting runs hold no thread: the library's timer thread wakes them when the bucket has
//! tokens again, and they start there (or in the thread that called poll()). Cancelling a
//! waiting run's future takes it out of the queue; it never starts. The time is read from a
//! kompoz::Clock (ManualClock in tests: move it, then call poll()).

#include <kompoz/asynccombinator.h>
#include <kompoz/clock.h>
#include <kompoz/liveobject.h>

#include <QMutex>

#include <chrono>
#include <memory>

namespace kompoz {

//! The token bucket and its queue, shared by every handle (and every combinator given the same
//! limiter). Thread-safe.
class KOMPOZ_EXPORT RateLimiter : public LiveObject
{
    Q_OBJECT
    Q_PROPERTY(int permits READ permits CONSTANT)
    Q_PROPERTY(qint64 perMs READ perMs CONSTANT)
    Q_PROPERTY(int burst READ burst CONSTANT)
    Q_PROPERTY(int queueLimit READ queueLimit CONSTANT)
    Q_PROPERTY(int queued READ queued NOTIFY queuedChanged)
    Q_PROPERTY(int admittedCount READ admittedCount NOTIFY admittedCountChanged)
    Q_PROPERTY(int delayedCount READ delayedCount NOTIFY delayedCountChanged)
    Q_PROPERTY(int rejectedCount READ rejectedCount NOTIFY rejectedCountChanged)

public:
    //! Throws std::invalid_argument naming the parameter: permits < 1, per <= 0, burst < 1,
    //! queueLimit < 0. The bucket starts full.
    RateLimiter(int permits, std::chrono::nanoseconds per, int burst, int queueLimit,
                QObject *parent = nullptr);
    ~RateLimiter() override;

    //! Made and owned by a shared_ptr, as rateLimited() does: only then can the timer thread
    //! wake waiting runs (otherwise they wait for poll()).
    static std::shared_ptr<RateLimiter> create(int permits, std::chrono::nanoseconds per, int burst,
                                               int queueLimit);

    int permits() const { return m_permits; }
    std::chrono::nanoseconds per() const { return m_per; }
    qint64 perMs() const;
    int burst() const { return m_burst; }
    int queueLimit() const { return m_queueLimit; }

    //! Whole tokens in the bucket now.
    int availablePermits() const;
    int queued() const;
    //! Runs let through (at once or after waiting).
    int admittedCount() const { return m_admitted.load(std::memory_order_relaxed); }
    //! Of those, the runs that waited in the queue.
    int delayedCount() const { return m_delayed.load(std::memory_order_relaxed); }
    //! Runs refused because the queue was full.
    int rejectedCount() const { return m_rejected.load(std::memory_order_relaxed); }

    //! The clock tokens refill by; nullptr: the real one. Must outlive the limiter. Refills
    //! the bucket.
    void setClock(const Clock *clock);

    //! \cond internal
    class KOMPOZ_EXPORT Waiter : public detail::Cancelable, public detail::Deferred
    {
    private:
        friend class RateLimiter;
        Waiter *m_nextWaiter = nullptr; // guarded by the limiter's mutex
        Waiter *m_prevWaiter = nullptr;
        bool m_queued = false;
    };
    enum class Decision { Admitted, Queued, Rejected };
    //! Takes a token if there is one and nobody waits.
    bool tryTake();
    //! The path that allocates nothing: Admitted (a token was taken), Rejected (no token and
    //! the queue is full: counted and announced), or Queued, meaning "call acquire() with a
    //! waiter" (which decides again).
    Decision tryAdmit();
    //! Takes a token (Admitted), queues `w` with a reference (Queued), or refuses (Rejected).
    Decision acquire(Waiter *w);
    //! True when `w` was still queued: removed, and its reference given back to the caller.
    bool remove(Waiter *w);
    //! \endcond

public Q_SLOTS:
    //! Starts the waiting runs the bucket has tokens for now. The timer thread calls it; call
    //! it yourself after moving a ManualClock.
    void poll();

Q_SIGNALS:
    void queuedChanged(int queued);
    void admittedCountChanged(int admittedCount);
    void delayedCountChanged(int delayedCount);
    void rejectedCountChanged(int rejectedCount);
    //! One per run refused because the queue was full; may be emitted from any thread.
    void callRejected();

protected:
    void flushCounts() override;

private:
    class Wakeup;
    void refillLocked(qint64 nowNs);
    void noteRejected();
    void scheduleLocked();
    Waiter *popLocked();

    const int m_permits;
    const std::chrono::nanoseconds m_per;
    const int m_burst;
    const int m_queueLimit;
    mutable detail::Mutex m_mutex;
    double m_tokens; // guarded by m_mutex
    qint64 m_refilledAt = 0; // guarded by m_mutex: the clock's monotonic ns
    const Clock *m_clock; // guarded by m_mutex
    Waiter *m_head = nullptr; // guarded by m_mutex: FIFO
    Waiter *m_tail = nullptr;
    int m_queued = 0; // guarded by m_mutex
    bool m_wakePending = false; // guarded by m_mutex
    detail::Ref<detail::TimerEntry> m_wakeup; // immutable after construction
    std::atomic<int> m_admitted {0};
    std::atomic<int> m_delayed {0};
    std::atomic<int> m_rejected {0};
    int m_announcedQueued = 0, m_announcedAdmitted = 0, m_announcedDelayed = 0,
        m_announcedRejected = 0; // object's thread only
};

//! \cond internal
namespace detail {

template<typename T>
class RateFrame final : public RateLimiter::Waiter
{
public:
    static void start(const Node<T> *inner, RateLimiter *limiter, T ctx, Sink<T> *parent,
                      Scope *scope)
    {
        // Admission and rejection allocate nothing; only a run that must wait gets a frame.
        switch (limiter->tryAdmit()) {
        case RateLimiter::Decision::Admitted:
            inner->start(std::move(ctx), parent, scope);
            return;
        case RateLimiter::Decision::Rejected:
            parent->complete(valueCompletion(false, std::move(ctx), Outcome::Rejected));
            return;
        case RateLimiter::Decision::Queued:
            break;
        }
        auto *f = new RateFrame(inner, limiter, parent, scope, std::move(ctx));
        switch (limiter->acquire(f)) {
        case RateLimiter::Decision::Admitted: {
            T c = std::move(*f->m_ctx);
            f->deref();
            inner->start(std::move(c), parent, scope);
            return;
        }
        case RateLimiter::Decision::Rejected: {
            T c = std::move(*f->m_ctx);
            f->deref();
            parent->complete(valueCompletion(false, std::move(c), Outcome::Rejected));
            return;
        }
        case RateLimiter::Decision::Queued:
            if (!scope->attach(f))
                f->cancel(); // cancelled while we queued: leave the queue again
            f->deref();
            return;
        }
    }

    // Admitted from the queue, holding the limiter's reference.
    void runDeferred() override
    {
        m_scope->detach(this);
        T c = std::move(*m_ctx);
        m_ctx.reset();
        m_inner->start(std::move(c), m_parent, m_scope.get());
        deref();
    }

    // Cancelled while it waited: it leaves the queue and never starts.
    void cancel() override
    {
        if (m_limiter->remove(this)) {
            m_parent->complete(canceledCompletion(std::move(*m_ctx)));
            deref(); // the limiter's reference
        }
    }

private:
    RateFrame(const Node<T> *inner, RateLimiter *limiter, Sink<T> *parent, Scope *scope, T ctx)
        : m_inner(inner),
          m_limiter(limiter),
          m_parent(parent),
          m_scope(scope),
          m_ctx(std::move(ctx))
    { }

    const Node<T> *m_inner;
    RateLimiter *m_limiter;
    Sink<T> *m_parent;
    Ref<Scope> m_scope;
    std::optional<T> m_ctx;
};

template<typename T>
class RateNode final : public Node<T>
{
public:
    RateNode(NodePtr<T> inner, std::shared_ptr<RateLimiter> limiter)
        : m_inner(std::move(inner)), m_limiter(std::move(limiter))
    { }
    void start(T ctx, Sink<T> *sink, Scope *scope) const override
    {
        RateFrame<T>::start(m_inner.get(), m_limiter.get(), std::move(ctx), sink, scope);
    }
    void describe(QString &out) const override
    {
        out += QLatin1String("AsyncRateLimited(");
        m_inner->describe(out);
        out += QLatin1String(", permits=") + QString::number(m_limiter->permits()) +
                QLatin1String(", per=") + formatSeconds(m_limiter->per().count() / 1e9) +
                QLatin1String(", burst=") + QString::number(m_limiter->burst()) +
                QLatin1String(", queue_limit=") + QString::number(m_limiter->queueLimit()) +
                QLatin1Char(')');
    }

private:
    NodePtr<T> m_inner;
    std::shared_ptr<RateLimiter> m_limiter;
};

} // namespace detail
//! \endcond

//! A rate-limited handle; the bucket lives in limiter().
template<typename T>
class AsyncRateLimited : public AsyncCombinator<T>
{
public:
    AsyncRateLimited(const AsyncCombinator<T> &inner, std::shared_ptr<RateLimiter> limiter)
        : AsyncCombinator<T>(std::make_shared<detail::RateNode<T>>(
                  detail::checked(inner, "rateLimited", "inner"), checkedLimiter(limiter))),
          m_limiter(std::move(limiter))
    { }
    //! The QObject with the live counts. Owned by the handles.
    RateLimiter *limiter() const { return m_limiter.get(); }
    std::shared_ptr<RateLimiter> sharedLimiter() const { return m_limiter; }

private:
    static const std::shared_ptr<RateLimiter> &checkedLimiter(const std::shared_ptr<RateLimiter> &l)
    {
        if (!l)
            detail::throwInvalid("rateLimited", "limiter", "is null");
        return l;
    }
    std::shared_ptr<RateLimiter> m_limiter;
};

//! At most `permits` runs of `inner` start per `per` on average, `burst` (default: permits) at
//! once after a quiet spell; up to `queueLimit` runs wait their turn, more are rejected.
//! Throws std::invalid_argument naming the parameter: an empty `inner`, permits < 1, per <= 0,
//! burst < 0, queueLimit < 0.
template<typename T, typename Rep, typename Period>
AsyncRateLimited<T> rateLimited(const AsyncCombinator<T> &inner, int permits,
                                std::chrono::duration<Rep, Period> per, int burst = 0,
                                int queueLimit = 100)
{
    detail::checked(inner, "rateLimited", "inner");
    if (burst < 0)
        detail::throwInvalid("rateLimited", "burst", "must not be negative (0: permits)");
    if (!(per.count() > 0))
        detail::throwInvalid("rateLimited", "per", "must be greater than zero");
    if (permits < 1)
        detail::throwInvalid("rateLimited", "permits", "must be at least 1");
    if (queueLimit < 0)
        detail::throwInvalid("rateLimited", "queueLimit", "must not be negative");
    return AsyncRateLimited<T>(
            inner,
            RateLimiter::create(permits, std::chrono::duration_cast<std::chrono::nanoseconds>(per),
                                burst == 0 ? permits : burst, queueLimit));
}

//! Puts an existing limiter around `inner`: several combinators then share one bucket.
//! \code
//! auto bucket = kompoz::RateLimiter::create(100, 1s, /*burst*/ 100, /*queueLimit*/ 0);
//! auto search = kompoz::rateLimited(callSearch, bucket);
//! auto suggest = kompoz::rateLimited(callSuggest, bucket); // 100 a second for both together
//! \endcode
template<typename T>
AsyncRateLimited<T> rateLimited(const AsyncCombinator<T> &inner,
                                std::shared_ptr<RateLimiter> limiter)
{
    return AsyncRateLimited<T>(inner, std::move(limiter));
}

} // namespace kompoz
