// SPDX-License-Identifier: MIT
#pragma once

//! \file circuitbreaker.h
//! The circuit breaker: kompoz's state machine as a QObject a UI binds to, and the typed handle
//! that puts it around a combinator.
//! \code
//! auto guarded = kompoz::circuitBreaker(fetchUser, 5, 30s);
//! QObject::connect(guarded.breaker(), &kompoz::CircuitBreaker::stateChanged, label,
//!                  [label](kompoz::CircuitState s) { label->setText(kompoz::toString(s)); });
//! \endcode

#include <kompoz/asynccombinator.h>
#include <kompoz/clock.h>
#include <kompoz/liveobject.h>

#include <QDateTime>
#include <QMutex>

#include <chrono>
#include <deque>
#include <memory>

class QJsonObject;
#include <functional>

namespace kompoz {

//! kompoz's get_stats(), plus the runs an open breaker rejected. Usable in QVariant and queued
//! signals.
struct KOMPOZ_EXPORT CircuitBreakerStats
{
    Q_GADGET
    Q_PROPERTY(kompoz::CircuitState state MEMBER state)
    Q_PROPERTY(int failureCount MEMBER failureCount)
    Q_PROPERTY(int successCount MEMBER successCount)
    Q_PROPERTY(QDateTime lastFailureTime MEMBER lastFailureTime)
    Q_PROPERTY(QDateTime lastSuccessTime MEMBER lastSuccessTime)
    Q_PROPERTY(int halfOpenSuccesses MEMBER halfOpenSuccesses)
    Q_PROPERTY(int rejectedCount MEMBER rejectedCount)
public:
    CircuitState state = CircuitState::Closed;
    int failureCount = 0; //!< consecutive failures (cleared by a success while Closed)
    int successCount = 0; //!< cumulative
    QDateTime lastFailureTime; //!< invalid when there was none
    QDateTime lastSuccessTime; //!< invalid when there was none
    int halfOpenSuccesses = 0; //!< successes in the current half-open period
    int rejectedCount = 0; //!< runs rejected without running the inner combinator

    friend bool operator==(const CircuitBreakerStats &a, const CircuitBreakerStats &b)
    {
        return a.state == b.state && a.failureCount == b.failureCount &&
                a.successCount == b.successCount && a.lastFailureTime == b.lastFailureTime &&
                a.lastSuccessTime == b.lastSuccessTime &&
                a.halfOpenSuccesses == b.halfOpenSuccesses && a.rejectedCount == b.rejectedCount;
    }
    friend bool operator!=(const CircuitBreakerStats &a, const CircuitBreakerStats &b)
    {
        return !(a == b);
    }
};

namespace detail {
class AutoHalfOpenTimer;
}

//! kompoz's on_state_change.
using StateChangeCallback = std::function<void(CircuitState from, CircuitState to,
                                               const CircuitBreakerStats &stats)>;

//! Every setting of a breaker, beyond kompoz's three, with its default (resilience4j's and
//! Polly's options). The defaults give kompoz's consecutive-count breaker.
//! \code
//! kompoz::CircuitBreakerOptions o;
//! o.failureRatio = 0.5;                 // open when half of ...
//! o.windowSize = 20;                    // ... the last 20 calls failed,
//! o.minimumThroughput = 10;             // once at least 10 calls were seen
//! o.slowCallDuration = 2s;              // a call slower than 2 s counts as slow ...
//! o.slowCallRatio = 0.8;                // ... and 80 % slow calls open it too
//! o.breakDurationMultiplier = 2;        // 30 s, 60 s, 120 s ... while it keeps failing,
//! o.maxBreakDuration = 5min;            // at most 5 min
//! o.autoHalfOpen = true;                // HalfOpen by timer, so a UI shows it
//! auto guarded = kompoz::circuitBreaker(call, o);
//! \endcode
struct CircuitBreakerOptions
{
    enum class WindowKind { Count, Time };
    int failureThreshold = 5; //!< >= 1; consecutive failures that open it (count mode)
    std::chrono::nanoseconds recoveryTimeout = std::chrono::seconds(30); //!< >= 0; break duration
    int halfOpenMaxCalls = 1; //!< >= 1
    //! 0 (default): kompoz's consecutive count. In (0, 1]: open when failures / calls over the
    //! window reaches it, once minimumThroughput calls are in the window.
    double failureRatio = 0;
    //! The window: the last windowSize calls, or the calls of the last windowDuration.
    WindowKind window = WindowKind::Count;
    int windowSize = 100; //!< >= 1 (Count)
    std::chrono::nanoseconds windowDuration = std::chrono::seconds(10); //!< > 0 (Time)
    int minimumThroughput = 10; //!< >= 1: calls in the window before a ratio may open it
    //! 0 (default): off. Calls slower than this count as slow, in any mode.
    std::chrono::nanoseconds slowCallDuration {0};
    double slowCallRatio = 1.0; //!< in (0, 1]: the share of slow calls in the window that opens it
    //! >= 1: each consecutive opening (a failed half-open trial) multiplies the break duration.
    double breakDurationMultiplier = 1.0;
    std::chrono::nanoseconds maxBreakDuration {0}; //!< >= 0; 0: no cap
    bool disabled = false; //!< count only; never open (see CircuitBreaker::setDisabled)
    //! Move Open to HalfOpen by timer when the break ends (needs an event loop in the breaker's
    //! thread), instead of lazily on the next run as kompoz does.
    bool autoHalfOpen = false;
    const Clock *clock = nullptr; //!< nullptr: the real one; must outlive the breaker
    StateChangeCallback onStateChange;
};

//! The breaker's state machine, shared by every copy of an AsyncCircuitBreaker handle.
//!
//! - Closed: runs go through; `failureThreshold` consecutive failures open it.
//! - Open: runs are rejected with `{false, ctx}` until `recoveryTimeout` has passed since the
//!   last failure; the first run after that moves it to HalfOpen.
//! - HalfOpen: `halfOpenMaxCalls` trial runs go through, more are rejected; a failure opens it,
//!   `halfOpenMaxCalls` successes close it.
//!
//! Thread-safe. Transitions are emitted one by one, in order, outside the lock (stateChanged,
//! transitioned, opened/halfOpened/closed, and the onStateChange callback); count properties
//! are announced coalesced in the object's thread (see LiveObject).
class KOMPOZ_EXPORT CircuitBreaker : public LiveObject
{
    Q_OBJECT
    Q_PROPERTY(kompoz::CircuitState state READ state NOTIFY stateChanged)
    Q_PROPERTY(kompoz::CircuitBreakerStats stats READ stats NOTIFY statsChanged)
    Q_PROPERTY(int failureCount READ failureCount NOTIFY failureCountChanged)
    Q_PROPERTY(int successCount READ successCount NOTIFY successCountChanged)
    Q_PROPERTY(int halfOpenSuccesses READ halfOpenSuccesses NOTIFY halfOpenSuccessesChanged)
    Q_PROPERTY(int rejectedCount READ rejectedCount NOTIFY rejectedCountChanged)
    Q_PROPERTY(QDateTime lastFailureTime READ lastFailureTime NOTIFY lastFailureTimeChanged)
    Q_PROPERTY(QDateTime lastSuccessTime READ lastSuccessTime NOTIFY lastSuccessTimeChanged)
    Q_PROPERTY(int failureThreshold READ failureThreshold WRITE setFailureThreshold NOTIFY
                       settingsChanged)
    Q_PROPERTY(qint64 recoveryTimeoutMs READ recoveryTimeoutMs WRITE setRecoveryTimeoutMs NOTIFY
                       settingsChanged)
    Q_PROPERTY(int halfOpenMaxCalls READ halfOpenMaxCalls WRITE setHalfOpenMaxCalls NOTIFY
                       settingsChanged)
    Q_PROPERTY(bool isolated READ isIsolated NOTIFY modeChanged)
    Q_PROPERTY(bool disabled READ isDisabled WRITE setDisabled NOTIFY modeChanged)
    Q_PROPERTY(double failureRatio READ failureRatio NOTIFY statsChanged)
    Q_PROPERTY(double slowCallRatio READ slowCallRatio NOTIFY statsChanged)
    Q_PROPERTY(qint64 breakDurationMs READ breakDurationMs NOTIFY statsChanged)

public:
    //! Throws std::invalid_argument naming the parameter: failureThreshold < 1,
    //! recoveryTimeout < 0, halfOpenMaxCalls < 1.
    explicit CircuitBreaker(int failureThreshold = 5,
                            std::chrono::nanoseconds recoveryTimeout = std::chrono::seconds(30),
                            int halfOpenMaxCalls = 1, QObject *parent = nullptr);
    //! Throws std::invalid_argument naming the field that is out of range.
    explicit CircuitBreaker(const CircuitBreakerOptions &options, QObject *parent = nullptr);
    ~CircuitBreaker() override;

    //! The options it was made with, with the live failureThreshold, recoveryTimeout and
    //! halfOpenMaxCalls.
    CircuitBreakerOptions options() const;
    bool isIsolated() const;
    bool isDisabled() const;
    //! Failures / calls in the window (0 with no calls, or in consecutive-count mode without
    //! slow-call detection: no window is kept).
    double failureRatio() const;
    double slowCallRatio() const;
    //! How long the next (or current) opening lasts, backoff included.
    std::chrono::nanoseconds breakDuration() const;
    qint64 breakDurationMs() const;

    //! The state, counts and open-until time (as wall-clock time), for restoreState() after a
    //! restart, so an application does not hammer a service it knew was down.
    //! \code
    //! settings.setValue("orders", QJsonDocument(breaker->saveState()).toJson());
    //! // after the restart:
    //! QString error;
    //! const QByteArray json = settings.value("orders").toByteArray();
    //! if (!breaker->restoreState(QJsonDocument::fromJson(json).object(), &error))
    //!     qWarning() << error; // refused: the breaker is as it was
    //! \endcode
    QJsonObject saveState() const;
    //! Restores what saveState() wrote. A malformed object is refused: false, nothing changed,
    //! and `errorString` (if given) says which field is wrong. A state change is emitted.
    bool restoreState(const QJsonObject &state, QString *errorString = nullptr);

    CircuitState state() const;
    CircuitBreakerStats stats() const;
    int failureCount() const;
    int successCount() const;
    int halfOpenSuccesses() const;
    int rejectedCount() const;
    QDateTime lastFailureTime() const;
    QDateTime lastSuccessTime() const;

    int failureThreshold() const;
    void setFailureThreshold(int failureThreshold);
    std::chrono::nanoseconds recoveryTimeout() const;
    void setRecoveryTimeout(std::chrono::nanoseconds recoveryTimeout);
    qint64 recoveryTimeoutMs() const;
    void setRecoveryTimeoutMs(qint64 ms);
    int halfOpenMaxCalls() const;
    void setHalfOpenMaxCalls(int halfOpenMaxCalls);

    //! kompoz's on_state_change, called once per transition after the change, outside the lock.
    //! An exception it throws is caught and logged; the transition stands.
    void setStateChangeCallback(StateChangeCallback callback);
    //! The clock recovery timeouts and the last failure/success times are read from; nullptr:
    //! the real one. The clock must outlive the breaker.
    void setClock(const Clock *clock);

    //! A permission to run, from tryAcquire(). Hand it back to release() once the run ended.
    struct Permit
    {
        enum Kind : quint8 { Rejected, Normal, Trial } kind = Rejected;
        quint32 generation = 0; // the half-open period a trial belongs to
        qint64 startedNs = -1; // monotonic start, only when slow calls are detected
        bool isRejected() const { return kind == Rejected; }
    };
    //! Asks to run (AsyncCircuitBreaker does this; call it yourself to guard code that is not a
    //! combinator). A rejection is counted and announced here.
    Permit tryAcquire();
    //! tryAcquire()'s lock-free rejection alone: when the breaker is open and its break has not
    //! ended, counts and announces a rejection and returns true; otherwise does nothing.
    bool rejectIfOpen();
    //! Records how a permitted run ended: Success counts a success; Canceled counts nothing and
    //! gives back a half-open trial; anything else counts a failure.
    void release(const Permit &permit, Outcome outcome);

public Q_SLOTS:
    //! Back to Closed; clears the failure and half-open counts.
    void reset();
    //! Holds it Open, rejecting every run, until reset() (Polly's manual control): for
    //! maintenance, or a service known to be down. `breaker->isolate(); ... breaker->reset();`
    void isolate();
    //! Disabled, it lets every run through and only counts (it never opens); enabling or
    //! disabling closes it.
    void setDisabled(bool disabled);

Q_SIGNALS:
    void stateChanged(kompoz::CircuitState state);
    //! The same transition with where it came from, for logs.
    void transitioned(kompoz::CircuitState from, kompoz::CircuitState to);
    void opened();
    void halfOpened();
    void closed();
    //! One per rejected run; may be emitted from any thread.
    void callRejected();
    void statsChanged(const kompoz::CircuitBreakerStats &stats);
    void failureCountChanged(int failureCount);
    void successCountChanged(int successCount);
    void halfOpenSuccessesChanged(int halfOpenSuccesses);
    void rejectedCountChanged(int rejectedCount);
    void lastFailureTimeChanged(const QDateTime &lastFailureTime);
    void lastSuccessTimeChanged(const QDateTime &lastSuccessTime);
    void settingsChanged();
    //! isolated or disabled changed.
    void modeChanged();

protected:
    void flushCounts() override;

private:
    struct Transition
    {
        CircuitState from;
        CircuitState to;
        CircuitBreakerStats stats;
    };
    void transitionLocked(CircuitState to);
    void updateOpenUntilLocked();
    CircuitBreakerStats statsLocked() const;
    void emitTransitions();
    struct Extras;
    friend class detail::AutoHalfOpenTimer;
    bool countLocked(bool failure, bool slow, std::chrono::nanoseconds now); // true: open now
    std::chrono::nanoseconds breakDurationLocked() const;
    void checkAutoHalfOpen();
    void scheduleAutoHalfOpenLocked();

    mutable detail::Mutex m_mutex;
    // Guarded by m_mutex:
    CircuitState m_state = CircuitState::Closed;
    int m_failureCount = 0;
    int m_successCount = 0;
    int m_halfOpenSuccesses = 0;
    int m_halfOpenTrials = 0; // trials let through in the current half-open period
    quint32 m_generation = 0; // counts half-open periods
    qint64 m_lastFailureMs = -1; // wall clock; -1: none
    qint64 m_lastSuccessMs = -1;
    std::chrono::nanoseconds m_lastFailureAt {0}; // monotonic, for the recovery timeout
    int m_failureThreshold;
    std::chrono::nanoseconds m_recoveryTimeout;
    int m_halfOpenMaxCalls;
    StateChangeCallback m_callback;
    std::deque<Transition> m_transitions; // waiting to be emitted, in order
    std::atomic<bool> m_emitting {false}; // one thread emits transitions at a time
    // Read without the lock by the hot paths (a closed breaker admits, an open one rejects,
    // without taking m_mutex); written under it.
    std::atomic<CircuitState> m_published {CircuitState::Closed};
    std::atomic<qint64> m_openUntilNs {0}; // monotonic; meaningful while Open
    std::atomic<int> m_rejectedCount {0};
    std::atomic<const Clock *> m_clock;
    // Touched only in the object's thread (flushCounts):
    CircuitBreakerStats m_announced;
    std::unique_ptr<Extras> m_x; // the options' state: circuitbreaker_p.h
    std::atomic<bool> m_timeCalls {false}; // slow-call detection on: permits carry a start time
};

//! \cond internal
namespace detail {
template<typename T>
class BreakerFrame final : public Sink<T>
{
public:
    BreakerFrame(Sink<T> *parent, Scope *scope, CircuitBreaker *breaker,
                 CircuitBreaker::Permit permit)
        : m_parent(parent), m_scope(scope), m_breaker(breaker), m_permit(permit)
    { }
    void complete(Completion<T> &&c) override
    {
        // Counted before the caller's future finishes: whoever sees it finished sees the state.
        // A run the caller cancelled counts as neither success nor failure.
        const Outcome counted = m_scope->isCanceled() ? Outcome::Canceled : c.outcome;
        m_breaker->release(m_permit, counted);
        Sink<T> *parent = m_parent;
        delete this;
        parent->complete(std::move(c));
    }

private:
    Sink<T> *m_parent;
    Scope *m_scope;
    CircuitBreaker *m_breaker;
    CircuitBreaker::Permit m_permit;
};

template<typename T>
class BreakerNode final : public Node<T>
{
public:
    BreakerNode(NodePtr<T> inner, std::shared_ptr<CircuitBreaker> breaker)
        : m_inner(std::move(inner)), m_breaker(std::move(breaker))
    { }
    void start(T ctx, Sink<T> *sink, Scope *scope) const override
    {
        const CircuitBreaker::Permit permit = m_breaker->tryAcquire();
        if (permit.isRejected()) {
            sink->complete(valueCompletion(false, std::move(ctx), Outcome::Rejected));
            return;
        }
        m_inner->start(std::move(ctx), new BreakerFrame<T>(sink, scope, m_breaker.get(), permit),
                       scope);
    }
    void describe(QString &out) const override
    {
        out += QLatin1String("AsyncCircuitBreaker(");
        m_inner->describe(out);
        out += QLatin1String(", failure_threshold=") +
                QString::number(m_breaker->failureThreshold()) +
                QLatin1String(", recovery_timeout=") +
                formatSeconds(m_breaker->recoveryTimeout().count() / 1e9) +
                QLatin1String(", half_open_max_calls=") +
                QString::number(m_breaker->halfOpenMaxCalls()) + QLatin1Char(')');
    }
    bool rejectsAtOnce() const override { return m_breaker->rejectIfOpen(); }
    const std::shared_ptr<CircuitBreaker> &breaker() const { return m_breaker; }

private:
    NodePtr<T> m_inner;
    std::shared_ptr<CircuitBreaker> m_breaker;
};
} // namespace detail
//! \endcond

//! kompoz's AsyncCircuitBreaker: a combinator handle whose state lives in breaker().
template<typename T>
class AsyncCircuitBreaker : public AsyncCombinator<T>
{
public:
    AsyncCircuitBreaker(AsyncCombinator<T> inner, std::shared_ptr<CircuitBreaker> breaker)
        : AsyncCombinator<T>(std::make_shared<detail::BreakerNode<T>>(
                  detail::checked(inner, "circuitBreaker", "inner"), checkedBreaker(breaker))),
          m_breaker(std::move(breaker))
    { }

    CircuitState state() const { return m_breaker->state(); }
    //! kompoz's get_stats().
    CircuitBreakerStats stats() const { return m_breaker->stats(); }
    //! Back to Closed. Callable on a const handle: handles behave like pointers.
    void reset() const { m_breaker->reset(); }
    //! The QObject to connect to and bind properties from. Owned by the handles.
    CircuitBreaker *breaker() const { return m_breaker.get(); }
    std::shared_ptr<CircuitBreaker> sharedBreaker() const { return m_breaker; }

private:
    static const std::shared_ptr<CircuitBreaker> &
    checkedBreaker(const std::shared_ptr<CircuitBreaker> &b)
    {
        if (!b)
            detail::throwInvalid("circuitBreaker", "breaker", "is null");
        return b;
    }
    std::shared_ptr<CircuitBreaker> m_breaker;
};

//! kompoz's circuit_breaker(). Throws std::invalid_argument naming the parameter for an empty
//! `inner`, failureThreshold < 1, a negative recoveryTimeout or halfOpenMaxCalls < 1.
template<typename T, typename Rep = double, typename Period = std::ratio<1>>
AsyncCircuitBreaker<T>
circuitBreaker(AsyncCombinator<T> inner, int failureThreshold = 5,
               std::chrono::duration<Rep, Period> recoveryTimeout = std::chrono::seconds(30),
               int halfOpenMaxCalls = 1, StateChangeCallback onStateChange = {})
{
    detail::checked(inner, "circuitBreaker", "inner");
    if (recoveryTimeout.count() < 0)
        detail::throwInvalid("circuitBreaker", "recoveryTimeout", "must not be negative");
    auto breaker = detail::makeShared<CircuitBreaker>(
            failureThreshold, detail::saturatingNanoseconds(recoveryTimeout), halfOpenMaxCalls);
    if (onStateChange)
        breaker->setStateChangeCallback(std::move(onStateChange));
    return AsyncCircuitBreaker<T>(std::move(inner), std::move(breaker));
}

//! A breaker with every option (failure ratio, slow calls, break backoff, automatic
//! half-open, ...): see CircuitBreakerOptions. Throws std::invalid_argument naming the field.
template<typename T>
AsyncCircuitBreaker<T> circuitBreaker(AsyncCombinator<T> inner,
                                      const CircuitBreakerOptions &options)
{
    detail::checked(inner, "circuitBreaker", "inner");
    return AsyncCircuitBreaker<T>(std::move(inner), detail::makeShared<CircuitBreaker>(options));
}

//! Puts an existing breaker around `inner`: several combinators can share one breaker, and an
//! application can make the breaker first (with a clock, a name) and bind to it.
template<typename T>
AsyncCircuitBreaker<T> circuitBreaker(AsyncCombinator<T> inner,
                                      std::shared_ptr<CircuitBreaker> breaker)
{
    return AsyncCircuitBreaker<T>(std::move(inner), std::move(breaker));
}

} // namespace kompoz

Q_DECLARE_METATYPE(kompoz::CircuitBreakerStats)
