// SPDX-License-Identifier: MIT
#pragma once

//! \file timeout.h
//! The timeout: a run that has not finished in time ends with `{false, ctx}` (or
//! `{false, onTimeout(ctx)}`), and the work it waited on is cancelled.
//! \code
//! auto quick = kompoz::withTimeout(slowApi, 500ms, [](Request r) { r.timedOut = true; return r; });
//! QObject::connect(quick.policy(), &kompoz::TimeoutPolicy::timedOutCountChanged, ...);
//! \endcode
//! Deadlines are kept by the library's timer thread (one QTimer for all of them), so a timeout
//! fires even while the calling thread is blocked, and costs nothing when the work is already
//! done: a run whose task finished at once never schedules a deadline.

#include <kompoz/asynccombinator.h>
#include <kompoz/liveobject.h>

#include <chrono>
#include <functional>

namespace kompoz {

//! The state a timeout shares between its handles: its duration and what it has counted.
class KOMPOZ_EXPORT TimeoutPolicy : public LiveObject
{
    Q_OBJECT
    Q_PROPERTY(qint64 timeoutMs READ timeoutMs WRITE setTimeoutMs NOTIFY timeoutChanged)
    Q_PROPERTY(int timedOutCount READ timedOutCount NOTIFY timedOutCountChanged)
    Q_PROPERTY(bool timedOut READ timedOut NOTIFY timedOutCountChanged)

public:
    //! Throws std::invalid_argument when timeout <= 0.
    explicit TimeoutPolicy(std::chrono::nanoseconds timeout, QObject *parent = nullptr);
    ~TimeoutPolicy() override;

    std::chrono::nanoseconds timeout() const
    {
        return std::chrono::nanoseconds(m_timeoutNs.load(std::memory_order_relaxed));
    }
    //! Applies to runs started afterwards.
    void setTimeout(std::chrono::nanoseconds timeout);
    qint64 timeoutMs() const;
    void setTimeoutMs(qint64 ms);

    //! How many runs timed out.
    int timedOutCount() const { return m_timedOutCount.load(std::memory_order_relaxed); }
    //! kompoz's timed_out: the last run to end timed out (not meaningful under concurrency).
    bool timedOut() const { return m_lastTimedOut.load(std::memory_order_relaxed); }

    //! \cond internal
    void recordEnd(bool timedOut);
    //! \endcond

Q_SIGNALS:
    void timeoutChanged();
    void timedOutCountChanged(int timedOutCount);
    //! One per run that timed out; may be emitted from the timer thread.
    void runTimedOut();

protected:
    void flushCounts() override;

private:
    std::atomic<qint64> m_timeoutNs;
    std::atomic<int> m_timedOutCount {0};
    std::atomic<bool> m_lastTimedOut {false};
    int m_announced = 0; // object's thread only
};

//! \cond internal
namespace detail {
template<typename T>
class TimeoutNode;

// References: one for the inner run (dropped when it completes), one for the timer service
// while the deadline is pending, and the starter's until start() returns.
template<typename T>
class TimeoutFrame final : public TimerEntry, public Sink<T>
{
public:
    TimeoutFrame(const TimeoutNode<T> *node, Sink<T> *parent, Scope *scope, const T &ctx)
        : m_node(node),
          m_parent(parent),
          m_outer(scope),
          m_inner(Ref<Scope>::adopt(new Scope(scope))),
          m_ctx(ctx)
    { }

    void start(const Node<T> *inner, T ctx)
    {
        if (!m_outer->attach(m_inner.get()))
            m_inner->cancel();
        ref(); // the inner run's
        inner->start(std::move(ctx), this, m_inner.get());
        if (m_settled.load(std::memory_order_acquire))
            return; // finished at once: no deadline, no timer
        TimerService &timers = TimerService::instance();
        m_armed.store(true, std::memory_order_release);
        timers.add(this, std::chrono::steady_clock::now() + m_node->policy()->timeout());
        // Finished while the deadline was being added: take it back now rather than hold the
        // frame until the deadline.
        if (m_settled.load(std::memory_order_acquire))
            timers.remove(this);
    }

    void complete(Completion<T> &&c) override
    {
        if (!m_settled.exchange(true, std::memory_order_acq_rel)) {
            if (m_armed.load(std::memory_order_acquire))
                TimerService::instance().remove(this);
            m_outer->detach(m_inner.get());
            m_node->policy()->recordEnd(false);
            m_parent->complete(std::move(c));
        } // else the deadline won: the cancelled work's late result is dropped
        deref();
    }

    void fire() override
    {
        if (m_settled.exchange(true, std::memory_order_acq_rel))
            return;
        m_node->policy()->recordEnd(true);
        m_inner->cancel(); // the inner work stops (if it is cooperative) and gives back slots
        m_outer->detach(m_inner.get());
        std::optional<T> changed;
        std::exception_ptr error;
        if (const auto &onTimeout = m_node->onTimeout()) {
            try {
                changed.emplace(onTimeout(m_ctx));
            } catch (...) {
                error = std::current_exception();
            }
        }
        if (error)
            m_parent->complete(errorCompletion(std::move(m_ctx), std::move(error)));
        else
            m_parent->complete(valueCompletion(
                    false, changed ? std::move(*changed) : std::move(m_ctx), Outcome::TimedOut));
    }

private:
    const TimeoutNode<T> *m_node;
    Sink<T> *m_parent;
    Scope *m_outer;
    Ref<Scope> m_inner;
    T m_ctx; // the input, for the timeout's result
    std::atomic<bool> m_settled {false};
    std::atomic<bool> m_armed {false}; // a deadline was (being) added
};

template<typename T>
class TimeoutNode final : public Node<T>
{
public:
    TimeoutNode(NodePtr<T> inner, std::shared_ptr<TimeoutPolicy> policy,
                std::function<T(T)> onTimeout)
        : m_inner(std::move(inner)), m_policy(std::move(policy)), m_onTimeout(std::move(onTimeout))
    { }
    void start(T ctx, Sink<T> *sink, Scope *scope) const override
    {
        auto *f = new TimeoutFrame<T>(this, sink, scope, ctx);
        f->start(m_inner.get(), std::move(ctx));
        f->deref();
    }
    void describe(QString &out) const override
    {
        out += QLatin1String("AsyncTimeout(");
        m_inner->describe(out);
        out += QLatin1String(", timeout=") + formatSeconds(m_policy->timeout().count() / 1e9) +
                QLatin1Char(')');
    }
    TimeoutPolicy *policy() const { return m_policy.get(); }
    const std::function<T(T)> &onTimeout() const { return m_onTimeout; }

private:
    NodePtr<T> m_inner;
    std::shared_ptr<TimeoutPolicy> m_policy;
    std::function<T(T)> m_onTimeout;
};
} // namespace detail
//! \endcond

//! kompoz's AsyncTimeout.
template<typename T>
class AsyncTimeout : public AsyncCombinator<T>
{
public:
    AsyncTimeout(AsyncCombinator<T> inner, std::shared_ptr<TimeoutPolicy> policy,
                 std::function<T(T)> onTimeout = {})
        : AsyncCombinator<T>(std::make_shared<detail::TimeoutNode<T>>(
                  detail::checked(inner, "withTimeout", "inner"), policy, std::move(onTimeout))),
          m_policy(std::move(policy))
    { }
    //! kompoz's timed_out: the last run timed out (not meaningful under concurrency: see
    //! policy()->timedOutCount()).
    bool timedOut() const { return m_policy->timedOut(); }
    std::chrono::milliseconds timeout() const
    {
        return std::chrono::duration_cast<std::chrono::milliseconds>(m_policy->timeout());
    }
    //! The QObject with the live count of timed-out runs.
    TimeoutPolicy *policy() const { return m_policy.get(); }
    std::shared_ptr<TimeoutPolicy> sharedPolicy() const { return m_policy; }

private:
    std::shared_ptr<TimeoutPolicy> m_policy;
};

//! kompoz's with_timeout(). `onTimeout` is any callable T -> T (it does not take part in
//! deducing T). Throws std::invalid_argument for an empty `inner` or a timeout <= 0.
template<typename T, typename Rep, typename Period, typename OnTimeout = std::function<T(T)>>
AsyncTimeout<T> withTimeout(AsyncCombinator<T> inner, std::chrono::duration<Rep, Period> timeout,
                            OnTimeout &&onTimeout = {})
{
    detail::checked(inner, "withTimeout", "inner");
    if (!(timeout.count() > 0))
        detail::throwInvalid("withTimeout", "timeout", "must be greater than zero");
    auto ns = detail::saturatingNanoseconds(timeout);
    if (ns.count() <= 0)
        ns = std::chrono::nanoseconds(1);
    std::function<T(T)> callback;
    if constexpr (std::is_constructible_v<bool, const std::decay_t<OnTimeout> &>) {
        if (onTimeout)
            callback = std::forward<OnTimeout>(onTimeout);
    } else {
        callback = std::forward<OnTimeout>(onTimeout);
    }
    return AsyncTimeout<T>(std::move(inner), detail::makeShared<TimeoutPolicy>(ns),
                           std::move(callback));
}

} // namespace kompoz
