// SPDX-License-Identifier: MIT
#pragma once

//! \file hedged.h
//! Hedging: when the inner combinator has not answered after `delay`, start another attempt in
//! parallel (up to `maxHedges` more); the first success wins and the others are cancelled.
//! \code
//! auto quote = kompoz::hedged(askReplica, 200ms, /*maxHedges*/ 2);
//! QObject::connect(quote.policy(), &kompoz::HedgingPolicy::hedgeCountChanged, ...);
//! \endcode
//! Every attempt runs on the run's input context. An attempt that fails starts the next hedge
//! at once, without waiting for the delay. When every attempt has ended without a success, the
//! run ends as the last of them did (an exception then reaches the caller). A delay of zero
//! starts all attempts at once. Delays are kept by the library's timer thread; a run whose
//! first attempt finishes at once schedules nothing.

#include <kompoz/asynccombinator.h>
#include <kompoz/liveobject.h>

#include <chrono>
#include <vector>

namespace kompoz {

//! The counts a hedged combinator shares between its handles.
class KOMPOZ_EXPORT HedgingPolicy : public LiveObject
{
    Q_OBJECT
    Q_PROPERTY(int maxHedges READ maxHedges CONSTANT)
    Q_PROPERTY(qint64 delayMs READ delayMs CONSTANT)
    Q_PROPERTY(int hedgeCount READ hedgeCount NOTIFY hedgeCountChanged)
    Q_PROPERTY(int hedgeWinCount READ hedgeWinCount NOTIFY hedgeWinCountChanged)

public:
    HedgingPolicy(std::chrono::nanoseconds delay, int maxHedges, QObject *parent = nullptr);
    ~HedgingPolicy() override;

    std::chrono::nanoseconds delay() const { return m_delay; }
    qint64 delayMs() const;
    int maxHedges() const { return m_maxHedges; }
    //! Extra attempts started, over all runs.
    int hedgeCount() const { return m_hedges.load(std::memory_order_relaxed); }
    //! Runs won by an extra attempt rather than the first.
    int hedgeWinCount() const { return m_wins.load(std::memory_order_relaxed); }

    //! \cond internal
    void recordHedge();
    void recordWin(int attempt);
    //! \endcond

Q_SIGNALS:
    void hedgeCountChanged(int hedgeCount);
    void hedgeWinCountChanged(int hedgeWinCount);

protected:
    void flushCounts() override;

private:
    const std::chrono::nanoseconds m_delay;
    const int m_maxHedges;
    std::atomic<int> m_hedges {0};
    std::atomic<int> m_wins {0};
    int m_announcedHedges = 0, m_announcedWins = 0;
};

//! \cond internal
namespace detail {

template<typename T>
class HedgeNode;

// References: the starter's, one per attempt in flight, the timer service's while a delay is
// pending.
template<typename T>
class HedgeRun final : public TimerEntry
{
public:
    struct Attempt final : Sink<T>
    {
        HedgeRun *run = nullptr;
        int index = 0;
        Scope *scope = nullptr; // own reference
        void complete(Completion<T> &&c) override { run->attemptDone(this, std::move(c)); }
    };

    HedgeRun(const HedgeNode<T> *node, Sink<T> *sink, Scope *scope, const T &ctx)
        : m_node(node), m_sink(sink), m_scope(scope), m_ctx(ctx), m_attempts(node->attempts())
    { }
    ~HedgeRun() override
    {
        for (Attempt &a : m_attempts) {
            if (a.scope)
                a.scope->deref();
        }
    }

    //! Starts the next attempt, and more at once while the delay is zero.
    void startNext()
    {
        for (;;) {
            Attempt *a;
            {
                Locker lock(m_mutex);
                if (m_decided || m_started == int(m_attempts.size()))
                    return;
                a = &m_attempts[size_t(m_started)];
                a->run = this;
                a->index = m_started++;
                a->scope = new Scope(m_scope.get());
                ++m_inFlight;
            }
            if (a->index > 0)
                m_node->policy()->recordHedge();
            ref(); // the attempt's
            if (!m_scope->attach(a->scope))
                a->scope->cancel();
            m_node->inner()->start(m_ctx, a, a->scope);
            Locker lock(m_mutex);
            if (m_decided || m_started == int(m_attempts.size()) || m_inFlight == 0)
                return; // over, all started, or a failure already started the next one
            if (m_node->policy()->delay().count() > 0) {
                armLocked();
                return;
            }
        }
    }

    void fire() override
    {
        {
            Locker lock(m_mutex);
            m_armed = false;
            if (m_decided || m_scope->isCanceled())
                return;
        }
        startNext();
    }

private:
    void armLocked()
    {
        if (m_armed)
            return;
        m_armed = true;
        // The timer service never calls back under its own lock: taking it under ours is safe.
        TimerService::instance().add(this,
                                     std::chrono::steady_clock::now() + m_node->policy()->delay());
    }
    void disarmLocked()
    {
        if (m_armed && TimerService::instance().remove(this))
            m_armed = false;
    }

    void attemptDone(Attempt *a, Completion<T> &&c)
    {
        m_scope->detach(a->scope);
        std::optional<Completion<T>> result;
        std::vector<Ref<Scope>> toCancel;
        bool next = false;
        int winner = 0;
        {
            Locker lock(m_mutex);
            --m_inFlight;
            if (!m_decided) {
                if (c.outcome == Outcome::Success) {
                    result.emplace(std::move(c));
                    winner = a->index;
                    for (Attempt &other : m_attempts) {
                        if (&other != a && other.scope && other.run)
                            toCancel.emplace_back(other.scope);
                    }
                } else if (m_scope->isCanceled()) {
                    if (m_inFlight == 0)
                        result.emplace(canceledCompletion(m_ctx));
                } else {
                    m_last.emplace(std::move(c));
                    if (m_started < int(m_attempts.size()))
                        next = true; // a failure does not wait for the delay
                    else if (m_inFlight == 0)
                        result.emplace(std::move(*m_last));
                }
                if (result) {
                    m_decided = true;
                    disarmLocked();
                } else if (next) {
                    disarmLocked();
                }
            }
        }
        if (winner > 0)
            m_node->policy()->recordWin(winner);
        if (result)
            m_sink->complete(std::move(*result));
        for (const Ref<Scope> &s : toCancel)
            s->cancel();
        if (next)
            startNext();
        deref();
    }

    const HedgeNode<T> *m_node;
    Sink<T> *m_sink;
    Ref<Scope> m_scope;
    const T m_ctx;
    std::vector<Attempt> m_attempts; // sized once: addresses stay put
    Mutex m_mutex;
    int m_started = 0; // guarded by m_mutex
    int m_inFlight = 0; // guarded by m_mutex
    bool m_decided = false; // guarded by m_mutex
    bool m_armed = false; // guarded by m_mutex
    std::optional<Completion<T>> m_last; // guarded by m_mutex
};

template<typename T>
class HedgeNode final : public Node<T>
{
public:
    HedgeNode(NodePtr<T> inner, std::shared_ptr<HedgingPolicy> policy)
        : m_inner(std::move(inner)), m_policy(std::move(policy))
    { }
    void start(T ctx, Sink<T> *sink, Scope *scope) const override
    {
        auto *run = new HedgeRun<T>(this, sink, scope, ctx);
        run->startNext();
        run->deref();
    }
    void describe(QString &out) const override
    {
        out += QLatin1String("AsyncHedged(");
        m_inner->describe(out);
        out += QLatin1String(", delay=") + formatSeconds(m_policy->delay().count() / 1e9) +
                QLatin1String(", max_hedges=") + QString::number(m_policy->maxHedges()) +
                QLatin1Char(')');
    }
    const Node<T> *inner() const { return m_inner.get(); }
    HedgingPolicy *policy() const { return m_policy.get(); }
    size_t attempts() const { return size_t(m_policy->maxHedges()) + 1; }

private:
    NodePtr<T> m_inner;
    std::shared_ptr<HedgingPolicy> m_policy;
};

} // namespace detail
//! \endcond

//! A hedged handle; its counts live in policy().
template<typename T>
class AsyncHedged : public AsyncCombinator<T>
{
public:
    AsyncHedged(const AsyncCombinator<T> &inner, std::shared_ptr<HedgingPolicy> policy)
        : AsyncCombinator<T>(std::make_shared<detail::HedgeNode<T>>(
                  detail::checked(inner, "hedged", "inner"), policy)),
          m_policy(std::move(policy))
    { }
    std::chrono::nanoseconds delay() const { return m_policy->delay(); }
    int maxHedges() const { return m_policy->maxHedges(); }
    HedgingPolicy *policy() const { return m_policy.get(); }

private:
    std::shared_ptr<HedgingPolicy> m_policy;
};

//! Starts another attempt of `inner` whenever the ones running have not answered after
//! `delay`, up to `maxHedges` more. Throws std::invalid_argument naming the parameter: an
//! empty `inner`, a negative delay, maxHedges < 1 or > 100.
template<typename T, typename Rep, typename Period>
AsyncHedged<T> hedged(const AsyncCombinator<T> &inner, std::chrono::duration<Rep, Period> delay,
                      int maxHedges = 1)
{
    detail::checked(inner, "hedged", "inner");
    if (delay.count() < 0)
        detail::throwInvalid("hedged", "delay", "must not be negative");
    if (maxHedges < 1 || maxHedges > 100)
        detail::throwInvalid("hedged", "maxHedges", "must be between 1 and 100");
    return AsyncHedged<T>(
            inner,
            detail::makeShared<HedgingPolicy>(
                    std::chrono::duration_cast<std::chrono::nanoseconds>(delay), maxHedges));
}

} // namespace kompoz
