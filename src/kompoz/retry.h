// SPDX-License-Identifier: MIT
#pragma once

//! \file retry.h
//! Retry: runs the inner combinator again when it fails or throws, up to maxAttempts times,
//! waiting between attempts on the library's timer thread (never a sleeping thread).
//! \code
//! auto fetch = kompoz::retry(call, /*maxAttempts*/ 4, 100ms, /*exponential*/ true, 20ms);
//! fetch.runWithInfo(req).then(this, [](kompoz::RetryResult<Request> r) {
//!     qDebug() << r.ok << "after" << r.attemptsMade << "attempts";
//! });
//! QObject::connect(fetch.policy(), &kompoz::RetryPolicy::retryCountChanged, label, ...);
//! \endcode
//! Each attempt runs on the context the previous one returned (kompoz's last_ctx); an attempt
//! that threw leaves it unchanged. A run that uses up its attempts ends with `{false, ctx}`
//! (Outcome::Failure, or the last attempt's TimedOut / Rejected), as kompoz's AsyncRetry: the
//! exceptions are not rethrown, runWithInfo() gives the last one.

#include <kompoz/asynccombinator.h>
#include <kompoz/liveobject.h>

#include <QFutureInterface>

#include <chrono>
#include <cmath>
#include <functional>

namespace kompoz {

//! kompoz's RetryResult: the verdict, the context, how many attempts ran, and the exception of
//! the last attempt (null when it ended with a verdict).
template<typename T>
struct RetryResult
{
    bool ok;
    T ctx;
    int attemptsMade;
    std::exception_ptr lastError;
};

//! kompoz's on_retry: called before each retry with the attempt that just failed (1-based),
//! its exception (or null) and the delay before the next attempt. Called in the thread where
//! the failed attempt ended; an exception it throws is logged and ignored.
using RetryCallback = std::function<void(int attempt, std::exception_ptr error,
                                         std::chrono::nanoseconds delay)>;

//! Every setting of a retry, with its default. retry() checks them and throws
//! std::invalid_argument naming the field.
template<typename T>
struct RetryOptions
{
    int maxAttempts = 3; //!< >= 1; 1 means no retry
    std::chrono::nanoseconds backoff {0}; //!< >= 0; the delay before the first retry
    bool exponential = false; //!< double the delay on each retry (backoff * 2^n)
    std::chrono::nanoseconds jitter {0}; //!< >= 0; a random 0..jitter added to each delay
    //! >= 0; 0: no cap. No delay is longer, jitter included.
    std::chrono::nanoseconds maxDelay {0};
    //! AWS's "decorrelated jitter": each delay is random in [backoff, 3 * previous delay]
    //! (capped by maxDelay), instead of backoff (* 2^n) + jitter. Needs backoff > 0.
    bool decorrelatedJitter = false;
    //! Decides whether an attempt's outcome is retried (never called for Success or Canceled).
    //! Default: every failure, timeout, rejection and exception. An outcome it declines ends
    //! the run as it is: an exception then reaches the caller.
    std::function<bool(const Completion<T> &)> retryIf;
    RetryCallback onRetry;
    //! Random numbers in [0, 1) for jitter; default QRandomGenerator::global(). For tests.
    std::function<double()> random;
};

//! The counts a retry shares between its handles, for a UI to bind to.
class KOMPOZ_EXPORT RetryPolicy : public LiveObject
{
    Q_OBJECT
    Q_PROPERTY(int maxAttempts READ maxAttempts CONSTANT)
    Q_PROPERTY(int retryCount READ retryCount NOTIFY retryCountChanged)
    Q_PROPERTY(int exhaustedCount READ exhaustedCount NOTIFY exhaustedCountChanged)
    Q_PROPERTY(int recoveredCount READ recoveredCount NOTIFY recoveredCountChanged)

public:
    explicit RetryPolicy(int maxAttempts, QObject *parent = nullptr);
    ~RetryPolicy() override;

    int maxAttempts() const { return m_maxAttempts; }
    //! Retries started (attempts after the first), over all runs.
    int retryCount() const { return m_retries.load(std::memory_order_relaxed); }
    //! Runs that used up every attempt without a success.
    int exhaustedCount() const { return m_exhausted.load(std::memory_order_relaxed); }
    //! Runs that succeeded after at least one retry.
    int recoveredCount() const { return m_recovered.load(std::memory_order_relaxed); }

    //! \cond internal
    void recordRetry(int attempt, std::chrono::nanoseconds delay);
    void recordExhausted();
    void recordRecovered();
    //! \endcond

Q_SIGNALS:
    void retryCountChanged(int retryCount);
    void exhaustedCountChanged(int exhaustedCount);
    void recoveredCountChanged(int recoveredCount);
    //! One per retry, before its delay; may be emitted from any thread.
    void retrying(int attempt, qint64 delayMs);
    //! One per run that used up its attempts; may be emitted from any thread.
    void exhausted();

protected:
    void flushCounts() override;

private:
    const int m_maxAttempts;
    std::atomic<int> m_retries {0};
    std::atomic<int> m_exhausted {0};
    std::atomic<int> m_recovered {0};
    int m_announcedRetries = 0, m_announcedExhausted = 0, m_announcedRecovered = 0;
};

//! \cond internal
namespace detail {

KOMPOZ_EXPORT double defaultRandom();

//! Where a run started by runWithInfo() finds how it went, besides its Completion.
struct RetryInfo
{
    int attemptsMade = 0;
    std::exception_ptr lastError;
};

//! The future of runWithInfo()-style runs: as FutureRoot, but its value is `Info::Result`,
//! built from the completion and what the node recorded in `m_info`.
template<typename T, typename NodeT, typename Info>
class InfoRoot final : public WatchedRun, public Sink<T>
{
public:
    using R = decltype(std::declval<Info &>().make(std::declval<Completion<T> &&>()));

    static QFuture<R> run(std::shared_ptr<const NodeT> node, T ctx)
    {
        auto *root = new InfoRoot(node);
        root->ref();
        node->startWithInfo(std::move(ctx), root, root, &root->m_info);
        QFuture<R> future = root->m_fi.future();
        int expected = Starting;
        if (root->m_state.compare_exchange_strong(expected, Waiting, std::memory_order_acq_rel))
            TimerService::instance().watch(root);
        else
            root->deliver();
        root->deref();
        return future;
    }

    void complete(Completion<T> &&c) override
    {
        if (!m_settled.exchange(true, std::memory_order_acq_rel)) {
            m_done.emplace(std::move(c));
            int expected = Starting;
            if (!m_state.compare_exchange_strong(expected, Completed, std::memory_order_acq_rel)) {
                TimerService::instance().unwatch(this);
                deliver();
            }
        }
        deref();
    }
    bool needsSweep() const override
    {
        return m_settled.load(std::memory_order_acquire) || m_fi.isCanceled();
    }
    void sweep() override
    {
        if (!m_settled.load(std::memory_order_acquire))
            cancel();
    }

protected:
    bool probeCanceled() const override
    {
        return m_state.load(std::memory_order_acquire) == Waiting && m_fi.isCanceled();
    }
    void onCanceled() override
    {
        if (m_settled.exchange(true, std::memory_order_acq_rel))
            return;
        m_fi.cancel();
        m_fi.reportFinished();
    }

private:
    enum State { Starting, Waiting, Completed };
    // One QFuture state per run, made here (see FutureRoot).
    explicit InfoRoot(std::shared_ptr<const NodeT> node) : m_keepAlive(std::move(node))
    {
        m_fi.reportStarted();
    }

    void deliver()
    {
        if (m_done->outcome == Outcome::Canceled)
            m_fi.cancel();
        else
            m_fi.reportResult(m_info.make(std::move(*m_done)));
        m_fi.reportFinished();
    }

    std::shared_ptr<const NodeT> m_keepAlive;
    std::atomic<int> m_state {Starting};
    std::atomic<bool> m_settled {false};
    QFutureInterface<R> m_fi;
    std::optional<Completion<T>> m_done;
    Info m_info; // written by the node's frame before it completes
};

template<typename T>
struct RetryInfoOf : RetryInfo
{
    RetryResult<T> make(Completion<T> &&c)
    {
        if (c.outcome == Outcome::Error)
            lastError = c.error;
        return RetryResult<T> {c.result.ok, std::move(c.result.ctx), attemptsMade, lastError};
    }
};

template<typename T>
class RetryNode;

//! One run of a retry: attempts one after another, delays on the timer service. An attempt
//! that finishes inside start() is handled by the loop in drive(), not by recursion, so a
//! zero backoff with 10,000 attempts does not grow the stack.
//! References: the starter's (until start returns), the current attempt's (dropped when it
//! completes), the timer service's while a delay is pending, and the DelayCancel's while it is
//! attached to the scope.
template<typename T>
class RetryFrame final : public TimerEntry, public Sink<T>
{
public:
    RetryFrame(const RetryNode<T> *node, Sink<T> *parent, Scope *scope, T ctx, RetryInfo *info)
        : m_node(node), m_parent(parent), m_scope(scope), m_ctx(std::move(ctx)), m_info(info)
    { }

    void drive()
    {
        for (;;) {
            if (m_scope->isCanceled()) {
                finish(canceledCompletion(m_ctx));
                return;
            }
            ++m_attempts;
            m_state.store(Starting, std::memory_order_relaxed);
            ref(); // the attempt's
            m_node->inner()->start(m_ctx, this, m_scope.get());
            int expected = Starting;
            if (m_state.compare_exchange_strong(expected, Waiting, std::memory_order_acq_rel))
                return; // asynchronous: complete() goes on
            if (!afterAttempt())
                return;
        }
    }

    void complete(Completion<T> &&c) override
    {
        m_done.emplace(std::move(c));
        int expected = Starting;
        if (!m_state.compare_exchange_strong(expected, Completed, std::memory_order_acq_rel)) {
            if (afterAttempt())
                drive();
        }
        deref(); // the attempt's
    }

    // The delay is over (timer thread): the next attempt starts here.
    void fire() override
    {
        if (m_delaySettled.exchange(true, std::memory_order_acq_rel))
            return;
        m_scope->detach(m_canceler.get());
        m_canceler = {};
        drive();
    }

    // The run was cancelled during a delay.
    void cancelDelay()
    {
        if (m_delaySettled.exchange(true, std::memory_order_acq_rel))
            return;
        TimerService::instance().remove(this);
        m_canceler = {};
        finish(canceledCompletion(m_ctx));
    }

private:
    enum State { Starting, Waiting, Completed };

    class DelayCancel final : public Cancelable
    {
    public:
        explicit DelayCancel(RetryFrame *f) : m_frame(f) { }
        void cancel() override { m_frame->cancelDelay(); }

    private:
        Ref<RetryFrame> m_frame;
    };

    // True to start the next attempt at once; false when the run ended or waits for a delay.
    bool afterAttempt()
    {
        Completion<T> c = std::move(*m_done);
        m_done.reset();
        if (c.outcome == Outcome::Success) {
            if (m_attempts > 1)
                m_node->policy()->recordRecovered();
            m_lastError = nullptr;
            finish(std::move(c));
            return false;
        }
        if (c.outcome == Outcome::Canceled) {
            finish(std::move(c));
            return false;
        }
        m_lastError = c.outcome == Outcome::Error ? c.error : nullptr;
        if (c.hasResult())
            m_ctx = c.result.ctx; // kompoz: the next attempt runs on the failed one's output
        bool retryable = true;
        if (const auto &retryIf = m_node->options().retryIf) {
            try {
                retryable = retryIf(std::as_const(c));
            } catch (...) {
                finish(errorCompletion(m_ctx, std::current_exception()));
                return false;
            }
        }
        if (!retryable) {
            finish(std::move(c));
            return false;
        }
        if (m_attempts >= m_node->options().maxAttempts) {
            m_node->policy()->recordExhausted();
            // kompoz's AsyncRetry swallows the exceptions: {false, last ctx}.
            const Outcome o = c.outcome == Outcome::Error ? Outcome::Failure : c.outcome;
            finish(valueCompletion(false, m_ctx, o));
            return false;
        }
        const std::chrono::nanoseconds delay = m_node->nextDelay(m_attempts, m_previousDelay);
        m_previousDelay = delay;
        if (const auto &onRetry = m_node->options().onRetry) {
            try {
                onRetry(m_attempts, m_lastError, delay);
            } catch (...) {
                warnCallbackThrew("retry: onRetry", std::current_exception());
            }
        }
        m_node->policy()->recordRetry(m_attempts, delay);
        if (delay.count() <= 0)
            return true;
        // Wait on the timer service; a cancellation meanwhile ends the run at once.
        m_delaySettled.store(false, std::memory_order_relaxed);
        m_canceler = Ref<DelayCancel>::adopt(new DelayCancel(this));
        if (!m_scope->attach(m_canceler.get())) {
            m_canceler = {};
            finish(canceledCompletion(m_ctx));
            return false;
        }
        TimerService &timers = TimerService::instance();
        timers.add(this, std::chrono::steady_clock::now() + delay);
        return false;
    }

    void finish(Completion<T> &&c)
    {
        if (m_info) {
            m_info->attemptsMade = m_attempts;
            m_info->lastError = m_lastError;
        }
        m_parent->complete(std::move(c));
    }

    const RetryNode<T> *m_node;
    Sink<T> *m_parent;
    Ref<Scope> m_scope;
    T m_ctx; // the context the next attempt runs on
    RetryInfo *m_info; // runWithInfo's, or null
    // One attempt at a time touches these: handed over through m_state, the timer service's
    // lock, or the scope's.
    int m_attempts = 0;
    std::chrono::nanoseconds m_previousDelay {0};
    std::exception_ptr m_lastError;
    std::optional<Completion<T>> m_done;
    Ref<DelayCancel> m_canceler;
    std::atomic<int> m_state {Starting};
    std::atomic<bool> m_delaySettled {true};
};

template<typename T>
class RetryNode final : public Node<T>
{
public:
    RetryNode(NodePtr<T> inner, RetryOptions<T> options, std::shared_ptr<RetryPolicy> policy)
        : m_inner(std::move(inner)), m_options(std::move(options)), m_policy(std::move(policy))
    { }
    void start(T ctx, Sink<T> *sink, Scope *scope) const override
    {
        startWithInfo(std::move(ctx), sink, scope, nullptr);
    }
    void startWithInfo(T ctx, Sink<T> *sink, Scope *scope, RetryInfo *info) const
    {
        auto *f = new RetryFrame<T>(this, sink, scope, std::move(ctx), info);
        f->drive();
        f->deref();
    }
    void describe(QString &out) const override
    {
        out += QLatin1String("AsyncRetry(");
        m_inner->describe(out);
        out += QLatin1String(", max_attempts=") + QString::number(m_options.maxAttempts);
        if (m_options.backoff.count() > 0)
            out += QLatin1String(", backoff=") + formatSeconds(m_options.backoff.count() / 1e9);
        if (m_options.exponential)
            out += QLatin1String(", exponential=True");
        if (m_options.jitter.count() > 0)
            out += QLatin1String(", jitter=") + formatSeconds(m_options.jitter.count() / 1e9);
        out += QLatin1Char(')');
    }

    const Node<T> *inner() const { return m_inner.get(); }
    const RetryOptions<T> &options() const { return m_options; }
    RetryPolicy *policy() const { return m_policy.get(); }
    const std::shared_ptr<RetryPolicy> &sharedPolicy() const { return m_policy; }

    //! The delay after attempt `attempt` (1-based) failed.
    std::chrono::nanoseconds nextDelay(int attempt, std::chrono::nanoseconds previous) const
    {
        const RetryOptions<T> &o = m_options;
        const double random = o.random ? o.random() : defaultRandom();
        const double base = double(o.backoff.count());
        double ns;
        if (o.decorrelatedJitter) {
            const double prev = previous.count() > 0 ? double(previous.count()) : base;
            const double high = qMax(base, prev * 3);
            ns = base + (high - base) * random;
        } else {
            ns = o.exponential ? base * std::pow(2.0, attempt - 1) : base;
            ns += double(o.jitter.count()) * random;
        }
        // Doubles first: 2^60 ns must saturate, not wrap around.
        const double cap = o.maxDelay.count() > 0 ? double(o.maxDelay.count()) : kMaxDelayNs;
        ns = qBound(0.0, ns, qMin(cap, kMaxDelayNs));
        return std::chrono::nanoseconds(qint64(ns));
    }

private:
    static constexpr double kMaxDelayNs = 30.0 * 24 * 3600 * 1e9; // 30 days
    NodePtr<T> m_inner;
    RetryOptions<T> m_options;
    std::shared_ptr<RetryPolicy> m_policy;
};

template<typename T>
void checkRetryOptions(const RetryOptions<T> &o)
{
    if (o.maxAttempts < 1)
        throwInvalid("retry", "maxAttempts", "must be at least 1");
    if (o.backoff.count() < 0)
        throwInvalid("retry", "backoff", "must not be negative");
    if (o.jitter.count() < 0)
        throwInvalid("retry", "jitter", "must not be negative");
    if (o.maxDelay.count() < 0)
        throwInvalid("retry", "maxDelay", "must not be negative");
    if (o.decorrelatedJitter && o.backoff.count() <= 0)
        throwInvalid("retry", "backoff", "must be greater than zero with decorrelatedJitter");
}

} // namespace detail
//! \endcond

//! kompoz's AsyncRetry: a handle whose counts live in policy().
template<typename T>
class AsyncRetry : public AsyncCombinator<T>
{
public:
    AsyncRetry(AsyncCombinator<T> inner, RetryOptions<T> options)
        : AsyncRetry(detail::checked(inner, "retry", "inner"), std::move(options), 0)
    { }

    //! kompoz's run_with_info(): never throws; a cancelled run's future holds no result.
    QFuture<RetryResult<T>> runWithInfo(T ctx) const
    {
        return detail::InfoRoot<T, detail::RetryNode<T>, detail::RetryInfoOf<T>>::run(
                m_retry, std::move(ctx));
    }

    int maxAttempts() const { return m_retry->options().maxAttempts; }
    const RetryOptions<T> &options() const { return m_retry->options(); }
    //! The QObject with the live counts. Owned by the handles.
    RetryPolicy *policy() const { return m_retry->policy(); }
    std::shared_ptr<RetryPolicy> sharedPolicy() const { return m_retry->sharedPolicy(); }

private:
    AsyncRetry(const detail::NodePtr<T> &inner, RetryOptions<T> options, int)
        : AsyncRetry(makeNode(inner, std::move(options)))
    { }
    explicit AsyncRetry(std::shared_ptr<const detail::RetryNode<T>> node)
        : AsyncCombinator<T>(node), m_retry(std::move(node))
    { }
    static std::shared_ptr<const detail::RetryNode<T>> makeNode(const detail::NodePtr<T> &inner,
                                                                RetryOptions<T> options)
    {
        detail::checkRetryOptions(options);
        auto policy = detail::makeShared<RetryPolicy>(options.maxAttempts);
        return std::make_shared<const detail::RetryNode<T>>(inner, std::move(options),
                                                            std::move(policy));
    }
    std::shared_ptr<const detail::RetryNode<T>> m_retry;
};

//! kompoz's AsyncRetry(inner, max_attempts, backoff, exponential, jitter, on_retry).
//! Throws std::invalid_argument naming the parameter: an empty `inner`, maxAttempts < 1, a
//! negative backoff or jitter.
template<typename T, typename Rep1 = qint64, typename Period1 = std::nano, typename Rep2 = qint64,
         typename Period2 = std::nano>
AsyncRetry<T> retry(AsyncCombinator<T> inner, int maxAttempts = 3,
                    std::chrono::duration<Rep1, Period1> backoff = std::chrono::nanoseconds(0),
                    bool exponential = false,
                    std::chrono::duration<Rep2, Period2> jitter = std::chrono::nanoseconds(0),
                    RetryCallback onRetry = {})
{
    detail::checked(inner, "retry", "inner");
    if (backoff.count() < 0)
        detail::throwInvalid("retry", "backoff", "must not be negative");
    if (jitter.count() < 0)
        detail::throwInvalid("retry", "jitter", "must not be negative");
    RetryOptions<T> o;
    o.maxAttempts = maxAttempts;
    o.backoff = std::chrono::duration_cast<std::chrono::nanoseconds>(backoff);
    o.exponential = exponential;
    o.jitter = std::chrono::duration_cast<std::chrono::nanoseconds>(jitter);
    o.onRetry = std::move(onRetry);
    return AsyncRetry<T>(std::move(inner), std::move(o));
}

//! retry() with every option (a predicate, a delay cap, decorrelated jitter):
//! \code
//! kompoz::RetryOptions<Request> o;
//! o.maxAttempts = 5;
//! o.backoff = 50ms;
//! o.decorrelatedJitter = true;
//! o.maxDelay = 2s;
//! o.retryIf = [](const kompoz::Completion<Request> &c) { return c.outcome != kompoz::Outcome::Rejected; };
//! auto fetch = kompoz::retry(call, o);
//! \endcode
template<typename T>
AsyncRetry<T> retry(AsyncCombinator<T> inner, RetryOptions<T> options)
{
    return AsyncRetry<T>(std::move(inner), std::move(options));
}

} // namespace kompoz
