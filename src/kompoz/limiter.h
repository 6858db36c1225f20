// SPDX-License-Identifier: MIT
#pragma once

//! \file limiter.h
//! The concurrency limit: a pool of slots (a QObject with live `active` and `queued` counts)
//! and the typed handle that puts it around a combinator.
//! \code
//! auto a = kompoz::limited(fetchA, 10, u"api"_qs);   // a and b share one pool of 10 slots
//! auto b = kompoz::limited(fetchB, 10, u"api"_qs);
//! label->setNum(a.pool()->active());
//! \endcode

#include <kompoz/asynccombinator.h>
#include <kompoz/liveobject.h>

#include <QMutex>

namespace kompoz {

//! Slots for at most maxConcurrent runs at once; the rest wait in a FIFO queue without blocking
//! any thread. A waiting run is started in the thread that gave back the slot it takes.
class KOMPOZ_EXPORT ConcurrencyPool : public LiveObject
{
    Q_OBJECT
    Q_PROPERTY(QString name READ name CONSTANT)
    Q_PROPERTY(
            int maxConcurrent READ maxConcurrent WRITE setMaxConcurrent NOTIFY maxConcurrentChanged)
    Q_PROPERTY(int active READ active NOTIFY activeChanged)
    Q_PROPERTY(int queued READ queued NOTIFY queuedChanged)
    Q_PROPERTY(int peakActive READ peakActive NOTIFY peakActiveChanged)

public:
    //! Throws std::invalid_argument when maxConcurrent < 1.
    explicit ConcurrencyPool(int maxConcurrent, const QString &name = {},
                             QObject *parent = nullptr);
    ~ConcurrencyPool() override;

    //! The pool shared under `name` (kompoz: limiters with one name share a semaphore), made
    //! with `maxConcurrent` if there is none yet. An existing pool keeps its limit (the first
    //! wins), and a different `maxConcurrent` is logged as a warning.
    static std::shared_ptr<ConcurrencyPool> named(const QString &name, int maxConcurrent);

    QString name() const;
    int maxConcurrent() const;
    //! Raising the limit starts waiting runs at once; lowering it lets running ones finish.
    void setMaxConcurrent(int maxConcurrent);
    int active() const;
    int queued() const;
    //! The most runs ever in flight at once (since resetPeak()).
    int peakActive() const;
    void resetPeak();

    //! \cond internal
    //! A run waiting for a slot: the pool holds a reference while it is queued.
    class KOMPOZ_EXPORT Waiter : public detail::Cancelable, public detail::Deferred
    {
    private:
        friend class ConcurrencyPool;
        Waiter *m_nextWaiter = nullptr; // guarded by the pool's mutex
        Waiter *m_prevWaiter = nullptr;
        bool m_queued = false;
    };
    //! Takes a slot now (true), or queues `w` (false) to be run through the trampoline when one
    //! frees up.
    bool acquire(Waiter *w);
    //! Gives a slot back. Returns the waiter that takes it over (with the pool's reference), to
    //! be run by the caller once it is done delivering its own result; or nullptr.
    Waiter *release();
    //! True when `w` was still queued: it is removed and its reference returned to the caller.
    bool remove(Waiter *w);
    //! \endcond

Q_SIGNALS:
    void activeChanged(int active);
    void queuedChanged(int queued);
    void peakActiveChanged(int peakActive);
    void maxConcurrentChanged(int maxConcurrent);

protected:
    void flushCounts() override;

private:
    Waiter *popLocked();

    const QString m_name;
    mutable detail::Mutex m_mutex;
    int m_max; // guarded by m_mutex
    int m_active = 0; // guarded by m_mutex
    int m_queued = 0; // guarded by m_mutex
    int m_peak = 0; // guarded by m_mutex
    Waiter *m_head = nullptr; // guarded by m_mutex: FIFO
    Waiter *m_tail = nullptr;
    // Touched only in the object's thread:
    int m_announcedActive = 0, m_announcedQueued = 0, m_announcedPeak = 0;
};

//! \cond internal
namespace detail {
template<typename T>
class LimitFrame final : public ConcurrencyPool::Waiter, public Sink<T>
{
public:
    LimitFrame(const Node<T> *inner, ConcurrencyPool *pool, Sink<T> *parent, Scope *scope, T ctx)
        : m_inner(inner), m_pool(pool), m_parent(parent), m_scope(scope), m_ctx(std::move(ctx))
    { }

    static void start(const Node<T> *inner, ConcurrencyPool *pool, T ctx, Sink<T> *parent,
                      Scope *scope)
    {
        auto *f = new LimitFrame(inner, pool, parent, scope, std::move(ctx));
        if (pool->acquire(f)) {
            f->startInner();
        } else if (!scope->attach(f)) {
            f->cancel(); // cancelled while we queued: leave the queue again
        }
        f->deref();
    }

    // Admitted from the queue, through the trampoline, holding the pool's reference.
    void runDeferred() override
    {
        m_scope->detach(this);
        startInner();
        deref();
    }

    // The run was cancelled while it waited: it leaves the queue and never starts.
    void cancel() override
    {
        if (m_pool->remove(this)) {
            m_parent->complete(canceledCompletion(std::move(*m_ctx)));
            deref(); // the pool's reference
        }
    }

    void complete(Completion<T> &&c) override
    {
        // The slot is given back before the caller's future finishes; the next waiter starts
        // after it, so the admission chain does not grow the stack.
        ConcurrencyPool::Waiter *next = m_pool->release();
        m_parent->complete(std::move(c));
        if (next)
            Trampoline::run(next);
        deref(); // the inner run's reference
    }

private:
    void startInner()
    {
        ref(); // dropped in complete()
        T ctx = std::move(*m_ctx);
        m_ctx.reset();
        m_inner->start(std::move(ctx), this, m_scope);
    }

    const Node<T> *m_inner;
    ConcurrencyPool *m_pool;
    Sink<T> *m_parent;
    Scope *m_scope;
    std::optional<T> m_ctx;
};

template<typename T>
class LimitNode final : public Node<T>
{
public:
    LimitNode(NodePtr<T> inner, std::shared_ptr<ConcurrencyPool> pool)
        : m_inner(std::move(inner)), m_pool(std::move(pool))
    { }
    void start(T ctx, Sink<T> *sink, Scope *scope) const override
    {
        LimitFrame<T>::start(m_inner.get(), m_pool.get(), std::move(ctx), sink, scope);
    }
    void describe(QString &out) const override
    {
        out += QLatin1String("AsyncLimited(");
        m_inner->describe(out);
        out += QLatin1String(", max_concurrent=") + QString::number(m_pool->maxConcurrent());
        if (!m_pool->name().isEmpty())
            out += QLatin1String(", name='") + m_pool->name() + QLatin1Char('\'');
        out += QLatin1Char(')');
    }

private:
    NodePtr<T> m_inner;
    std::shared_ptr<ConcurrencyPool> m_pool;
};
} // namespace detail
//! \endcond

//! kompoz's AsyncLimited: at most maxConcurrent() runs of the inner combinator at once.
template<typename T>
class AsyncLimited : public AsyncCombinator<T>
{
public:
    AsyncLimited(AsyncCombinator<T> inner, std::shared_ptr<ConcurrencyPool> pool)
        : AsyncCombinator<T>(std::make_shared<detail::LimitNode<T>>(
                  detail::checked(inner, "limited", "inner"), pool)),
          m_pool(std::move(pool))
    { }
    int maxConcurrent() const { return m_pool->maxConcurrent(); }
    QString name() const { return m_pool->name(); }
    //! The pool, to bind `active` and `queued` to. Shared by limiters of the same name.
    ConcurrencyPool *pool() const { return m_pool.get(); }
    std::shared_ptr<ConcurrencyPool> sharedPool() const { return m_pool; }

private:
    std::shared_ptr<ConcurrencyPool> m_pool;
};

//! kompoz's limited(). Limiters with the same non-empty `name` share one pool across
//! combinators and threads. Throws std::invalid_argument for an empty `inner` or
//! maxConcurrent < 1.
template<typename T>
AsyncLimited<T> limited(AsyncCombinator<T> inner, int maxConcurrent, const QString &name = {})
{
    detail::checked(inner, "limited", "inner");
    if (maxConcurrent < 1)
        detail::throwInvalid("limited", "maxConcurrent", "must be at least 1");
    auto pool = name.isEmpty() ? detail::makeShared<ConcurrencyPool>(maxConcurrent)
                               : ConcurrencyPool::named(name, maxConcurrent);
    return AsyncLimited<T>(std::move(inner), std::move(pool));
}

//! Puts an existing pool around `inner`.
template<typename T>
AsyncLimited<T> limited(AsyncCombinator<T> inner, std::shared_ptr<ConcurrencyPool> pool)
{
    if (!pool)
        detail::throwInvalid("limited", "pool", "is null");
    return AsyncLimited<T>(std::move(inner), std::move(pool));
}

} // namespace kompoz
