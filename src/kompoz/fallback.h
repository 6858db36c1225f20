// SPDX-License-Identifier: MIT
#pragma once

//! \file fallback.h
//! Fallback: runs an alternative when the inner combinator fails *or throws* (where `a | b`
//! lets the exception through), and says which of the two happened.
//! \code
//! auto price = kompoz::fallback(livePrice, cachedPrice);
//! price.runWithInfo(item).then(this, [](kompoz::FallbackResult<Item> r) {
//!     if (r.usedFallback)
//!         qDebug() << "live price unavailable:" << kompoz::toString(r.reason);
//! });
//! \endcode
//! The alternative runs on the inner run's output context after a failed verdict, a timeout or
//! a rejection, and on the input context after an exception. A cancelled run runs nothing more.

#include <kompoz/retry.h>

namespace kompoz {

//! How a fallback run went: the final verdict and context, whether the alternative ran, why
//! (the inner run's Outcome: Failure, TimedOut, Rejected or Error; Success when it did not run),
//! and the inner run's exception when the reason is Error.
template<typename T>
struct FallbackResult
{
    bool ok;
    T ctx;
    bool usedFallback;
    Outcome reason;
    std::exception_ptr innerError;
};

//! The counts a fallback shares between its handles.
class KOMPOZ_EXPORT FallbackPolicy : public LiveObject
{
    Q_OBJECT
    Q_PROPERTY(int fallbackCount READ fallbackCount NOTIFY fallbackCountChanged)
    Q_PROPERTY(int errorFallbackCount READ errorFallbackCount NOTIFY fallbackCountChanged)

public:
    explicit FallbackPolicy(QObject *parent = nullptr);
    ~FallbackPolicy() override;

    //! Runs whose alternative ran, for any reason.
    int fallbackCount() const { return m_count.load(std::memory_order_relaxed); }
    //! Of those, the runs whose inner combinator threw.
    int errorFallbackCount() const { return m_errors.load(std::memory_order_relaxed); }

    //! \cond internal
    void recordFallback(Outcome reason);
    //! \endcond

Q_SIGNALS:
    void fallbackCountChanged(int fallbackCount);
    //! One per run that falls back, before the alternative starts; from any thread.
    void fellBack(kompoz::Outcome reason);

protected:
    void flushCounts() override;

private:
    std::atomic<int> m_count {0};
    std::atomic<int> m_errors {0};
    int m_announced = 0;
};

//! \cond internal
namespace detail {

struct FallbackInfo
{
    bool usedFallback = false;
    Outcome reason = Outcome::Success;
    std::exception_ptr innerError;
};

template<typename T>
struct FallbackInfoOf : FallbackInfo
{
    FallbackResult<T> make(Completion<T> &&c)
    {
        if (c.outcome == Outcome::Error) // the alternative threw: runWithInfo does not
            return FallbackResult<T> {false, std::move(c.result.ctx), usedFallback, reason,
                                      innerError ? innerError : c.error};
        return FallbackResult<T> {c.result.ok, std::move(c.result.ctx), usedFallback, reason,
                                  innerError};
    }
};

template<typename T>
class FallbackNode;

template<typename T>
class FallbackFrame final : public Sink<T>
{
public:
    FallbackFrame(const FallbackNode<T> *node, Sink<T> *parent, Scope *scope, const T &ctx,
                  FallbackInfo *info)
        : m_node(node), m_parent(parent), m_scope(scope), m_input(ctx), m_info(info)
    { }

    void complete(Completion<T> &&c) override
    {
        Sink<T> *parent = m_parent;
        if (m_ranAlternative || c.outcome == Outcome::Success || c.outcome == Outcome::Canceled ||
            m_scope->isCanceled()) {
            delete this;
            parent->complete(std::move(c));
            return;
        }
        m_ranAlternative = true;
        if (m_info) {
            m_info->usedFallback = true;
            m_info->reason = c.outcome;
            m_info->innerError = c.error;
        }
        m_node->policy()->recordFallback(c.outcome);
        T next = c.outcome == Outcome::Error ? std::move(m_input) : std::move(c.result.ctx);
        // Depth two at most per fallback: the alternative's completion comes back here once.
        m_node->alternative()->start(std::move(next), this, m_scope.get());
    }

private:
    const FallbackNode<T> *m_node;
    Sink<T> *m_parent;
    Ref<Scope> m_scope;
    T m_input; // for the alternative after an exception
    FallbackInfo *m_info;
    bool m_ranAlternative = false; // one phase at a time: no lock
};

template<typename T>
class FallbackNode final : public Node<T>
{
public:
    FallbackNode(NodePtr<T> inner, NodePtr<T> alternative, std::shared_ptr<FallbackPolicy> policy)
        : m_inner(std::move(inner)),
          m_alternative(std::move(alternative)),
          m_policy(std::move(policy))
    { }
    void start(T ctx, Sink<T> *sink, Scope *scope) const override
    {
        startWithInfo(std::move(ctx), sink, scope, nullptr);
    }
    void startWithInfo(T ctx, Sink<T> *sink, Scope *scope, FallbackInfo *info) const
    {
        auto *f = new FallbackFrame<T>(this, sink, scope, ctx, info);
        m_inner->start(std::move(ctx), f, scope);
    }
    void describe(QString &out) const override
    {
        out += QLatin1String("AsyncFallback(");
        m_inner->describe(out);
        out += QLatin1String(", ");
        m_alternative->describe(out);
        out += QLatin1Char(')');
    }
    const Node<T> *alternative() const { return m_alternative.get(); }
    FallbackPolicy *policy() const { return m_policy.get(); }

private:
    NodePtr<T> m_inner;
    NodePtr<T> m_alternative;
    std::shared_ptr<FallbackPolicy> m_policy;
};

} // namespace detail
//! \endcond

//! A fallback handle; its counts live in policy().
template<typename T>
class AsyncFallback : public AsyncCombinator<T>
{
public:
    AsyncFallback(const AsyncCombinator<T> &inner, const AsyncCombinator<T> &alternative)
        : AsyncFallback(std::make_shared<const detail::FallbackNode<T>>(
                  detail::checked(inner, "fallback", "inner"),
                  detail::checked(alternative, "fallback", "alternative"),
                  detail::makeShared<FallbackPolicy>()))
    { }

    //! The verdict and whether (and why) the alternative ran. Never throws: an exception of
    //! the alternative gives `{false, ctx}` and is in innerError when the inner one had none.
    QFuture<FallbackResult<T>> runWithInfo(T ctx) const
    {
        return detail::InfoRoot<T, detail::FallbackNode<T>, detail::FallbackInfoOf<T>>::run(
                m_fallback, std::move(ctx));
    }
    FallbackPolicy *policy() const { return m_fallback->policy(); }

private:
    explicit AsyncFallback(std::shared_ptr<const detail::FallbackNode<T>> node)
        : AsyncCombinator<T>(node), m_fallback(std::move(node))
    { }
    std::shared_ptr<const detail::FallbackNode<T>> m_fallback;
};

//! Runs `alternative` when `inner` fails, times out, is rejected or throws. Throws
//! std::invalid_argument for an empty `inner` or `alternative`.
template<typename T>
AsyncFallback<T> fallback(const AsyncCombinator<T> &inner, const AsyncCombinator<T> &alternative)
{
    return AsyncFallback<T>(inner, alternative);
}

} // namespace kompoz
