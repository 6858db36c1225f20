// SPDX-License-Identifier: MIT
#pragma once

//! \file asynccombinator.h
//! AsyncCombinator<T>: a handle to something that runs on a context and says yes or no; the
//! leaves made from functions (asyncRule, asyncPipe) and the logic that composes them
//! (&, |, ~, >>, ifElse, parallelAnd, parallelOr).
//!
//! \code
//! auto isAdmin = kompoz::asyncRule<User>([](const User &u) { return api.isAdmin(u); }, u"admin"_qs);
//! auto isOwner = kompoz::asyncRule<User>([](const User &u) { return u.owns(doc); }, u"owner"_qs);
//! QFuture<kompoz::Result<User>> f = (isAdmin | isOwner).run(user);
//! \endcode

#include <kompoz/runtime.h>

#include <QFuture>
#include <QFutureInterface>
#include <QList>
#include <QPointer>
#include <QString>
#include <QThread>

#include <exception>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <vector>

//! \cond internal
// Waiting for a task's QFuture with then() costs a second QFuture (the continuation's), a
// QPromise and a heap job per run: on this machine more than the run itself. Qt 6.0-6.6 keep a
// future's continuation as a std::function set through QFutureInterfaceBase::setContinuation(),
// the exported function then() itself calls; every QtPrivate::Continuation specialization is a
// friend of QFuture and QFutureInterfaceBase. This specialization, for a tag type of ours, sets
// our own continuation directly. It runs when the task's future finishes for any reason (a
// result, an exception, a cancellation, a QPromise destroyed unfinished). Later Qt versions
// changed the continuation machinery: they take the then() path.
namespace kompoz::detail {
struct DirectContinuationTag;
}
#if QT_VERSION < QT_VERSION_CHECK(6, 7, 0)
#    define KOMPOZ_DIRECT_CONTINUATION 1
template<typename X>
class QtPrivate::Continuation<kompoz::detail::DirectContinuationTag, void, X>
{
public:
    template<typename Fn>
    static void attach(QFuture<X> &future, Fn &&fn)
    {
        // The continuation crosses threads through QtCore's own mutex, which ThreadSanitizer
        // cannot see (QtCore is not instrumented): tell it about the hand-over. The edges are
        // taken on addresses known without reading the job (the future's state, the job's own
        // address): a read of a member before the acquire would itself be unordered.
        struct Job
        {
            std::decay_t<Fn> fn;
            void operator()(const QFutureInterfaceBase &parent)
            {
                KOMPOZ_TSAN_ACQUIRE(parent.d);
                KOMPOZ_TSAN_ACQUIRE(this);
                struct Done
                {
                    Job *self;
                    ~Done() { KOMPOZ_TSAN_RELEASE(self); } // for a destructor in another thread
                } done {this};
                fn(QFutureInterface<X>(parent).future());
            }
            explicit Job(std::decay_t<Fn> &&f) : fn(std::move(f)) { }
            Job(const Job &o) : fn(o.fn) { KOMPOZ_TSAN_RELEASE(this); }
            Job(Job &&o) noexcept : fn(std::move(o.fn)) { KOMPOZ_TSAN_RELEASE(this); }
            ~Job() { KOMPOZ_TSAN_ACQUIRE(this); } // before fn's own destructor runs
        };
        std::function<void(const QFutureInterfaceBase &)> job(Job(std::forward<Fn>(fn)));
        KOMPOZ_TSAN_RELEASE(future.d.d);
        future.d.setContinuation(std::move(job));
    }
};
#else
#    define KOMPOZ_DIRECT_CONTINUATION 0
#endif
//! \endcond

namespace kompoz {

//! How one run ended, for callers that take a completion callback instead of a QFuture.
//! For Error and Canceled, `result` is `{false, input ctx}`.
template<typename T>
struct Completion
{
    Result<T> result;
    Outcome outcome;
    std::exception_ptr error; //!< set when outcome == Outcome::Error

    bool hasResult() const { return outcome != Outcome::Error && outcome != Outcome::Canceled; }
};

//! A run started on the callback path (AsyncCombinator::run(ctx, context, fn)). Empty when the
//! run had already finished when run() returned. cancel() cancels the inner work.
class KOMPOZ_EXPORT RunHandle
{
public:
    RunHandle() = default;
    explicit RunHandle(detail::Ref<detail::Scope> scope) : m_scope(std::move(scope)) { }
    //! True while the run had not finished when run() returned (it may have finished since).
    bool isPending() const { return bool(m_scope); }
    //! Cancels the run: the inner work's QFuture is cancelled, a limiter slot or queue place is
    //! given back, a breaker counts nothing, and the callback is called with Outcome::Canceled
    //! (or not at all, for a callback that takes a Result<T>).
    void cancel() const
    {
        if (m_scope)
            m_scope->cancel();
    }

private:
    detail::Ref<detail::Scope> m_scope;
};

template<typename T>
class AsyncCombinator;

//! \cond internal
namespace detail {

KOMPOZ_EXPORT QString formatSeconds(double seconds);
[[noreturn]] KOMPOZ_EXPORT void throwInvalid(const char *function, const char *parameter,
                                             const char *problem);
KOMPOZ_EXPORT void warnDroppedError(const char *where);
KOMPOZ_EXPORT void warnCallbackThrew(const char *what, std::exception_ptr e);

//! A duration in nanoseconds, held to +-100 years: a "wait forever" of a million hours must not
//! wrap around int64 nanoseconds.
template<typename Rep, typename Period>
std::chrono::nanoseconds saturatingNanoseconds(std::chrono::duration<Rep, Period> d)
{
    constexpr std::chrono::nanoseconds cap = std::chrono::hours(24 * 365 * 100);
    const long double seconds = std::chrono::duration<long double>(d).count();
    if (seconds >= std::chrono::duration<long double>(cap).count())
        return cap;
    if (seconds <= -std::chrono::duration<long double>(cap).count())
        return -cap;
    return std::chrono::duration_cast<std::chrono::nanoseconds>(d);
}

template<typename T>
Completion<T> valueCompletion(bool ok, T ctx, Outcome outcome)
{
    return Completion<T> {Result<T> {ok, std::move(ctx)}, outcome, nullptr};
}
template<typename T>
Completion<T> valueCompletion(bool ok, T ctx)
{
    return valueCompletion(ok, std::move(ctx), ok ? Outcome::Success : Outcome::Failure);
}
template<typename T>
Completion<T> errorCompletion(T ctx, std::exception_ptr e)
{
    return Completion<T> {Result<T> {false, std::move(ctx)}, Outcome::Error, std::move(e)};
}
template<typename T>
Completion<T> canceledCompletion(T ctx)
{
    return Completion<T> {Result<T> {false, std::move(ctx)}, Outcome::Canceled, nullptr};
}

//! Where a node delivers its run's end. Called exactly once per start().
template<typename T>
class Sink
{
public:
    virtual void complete(Completion<T> &&c) = 0;

protected:
    ~Sink() = default;
};

enum class LogicKind : quint8 { None, And, Or, Then, Not, IfElse };

//! One combinator. Stateless per run: all run state lives in frames the node allocates.
template<typename T>
class Node
{
public:
    virtual ~Node() = default;
    //! Runs on `ctx` and calls sink->complete() once, now or later, in any thread. The caller
    //! keeps `scope` alive until then; so must every frame that hands a scope further down.
    virtual void start(T ctx, Sink<T> *sink, Scope *scope) const = 0;
    virtual void describe(QString &out) const = 0;
    virtual LogicKind logicKind() const { return LogicKind::None; }
    //! A node that can turn a run away before anything starts (an open breaker) counts that
    //! rejection and returns true; the root then answers `{false, ctx}` without making a scope.
    virtual bool rejectsAtOnce() const { return false; }
};

template<typename T>
using NodePtr = std::shared_ptr<const Node<T>>;

template<typename T>
void describeNode(const NodePtr<T> &node, QString &out);

// ---- Logic: &, |, >>, ~, ifElse, run by one iterative interpreter ---------------------------

template<typename T>
class LogicNode final : public Node<T>
{
public:
    LogicNode(LogicKind kind, NodePtr<T> a, NodePtr<T> b = {}, NodePtr<T> c = {})
        : m_kind(kind), m_a(std::move(a)), m_b(std::move(b)), m_c(std::move(c))
    { }
    ~LogicNode() override
    {
        // A 10,000-long chain is 10,000 nested nodes: take them apart iteratively instead of
        // through 10,000 nested destructors.
        std::vector<NodePtr<T>> pending;
        auto take = [&pending](NodePtr<T> &p) {
            if (p && p.use_count() == 1 && p->logicKind() != LogicKind::None)
                pending.push_back(std::move(p));
        };
        take(m_a);
        take(m_b);
        take(m_c);
        while (!pending.empty()) {
            NodePtr<T> p = std::move(pending.back());
            pending.pop_back();
            auto *logic = const_cast<LogicNode *>(static_cast<const LogicNode *>(p.get()));
            take(logic->m_a);
            take(logic->m_b);
            take(logic->m_c);
        }
    }

    void start(T ctx, Sink<T> *sink, Scope *scope) const override;
    void describe(QString &out) const override;
    LogicKind logicKind() const override { return m_kind; }

    const Node<T> *first() const { return m_a.get(); }
    const Node<T> *second() const { return m_b.get(); }
    const Node<T> *third() const { return m_c.get(); }

private:
    LogicKind m_kind;
    NodePtr<T> m_a, m_b, m_c;
};

//! Runs a tree of logic nodes with an explicit stack, so neither deep trees nor long chains of
//! already-finished tasks recurse. Leaves and policies below it are started with this frame as
//! their sink; a leaf that finishes inside start() is picked up by the loop, not by recursion.
template<typename T>
class LogicRun final : public Sink<T>
{
public:
    LogicRun(Sink<T> *parent, Scope *scope) : m_parent(parent), m_scope(scope) { }

    void drive(const Node<T> *node, T ctx)
    {
        for (;;) {
            // Descend through logic nodes to the first leaf or policy.
            while (node->logicKind() != LogicKind::None) {
                auto *logic = static_cast<const LogicNode<T> *>(node);
                m_stack.push_back(Frame {logic, 0});
                node = logic->first();
            }
            m_state.store(Starting, std::memory_order_relaxed);
            node->start(std::move(ctx), this, m_scope);
            int expected = Starting;
            if (m_state.compare_exchange_strong(expected, Waiting, std::memory_order_acq_rel))
                return; // asynchronous: complete() resumes
            auto next = ascend();
            if (!next)
                return; // finished; `this` is gone
            node = next->first;
            ctx = std::move(next->second);
        }
    }

    void complete(Completion<T> &&c) override
    {
        m_done.emplace(std::move(c));
        int expected = Starting;
        if (m_state.compare_exchange_strong(expected, Completed, std::memory_order_acq_rel))
            return; // inside start(): drive() continues
        auto next = ascend();
        if (next)
            drive(next->first, std::move(next->second));
    }

private:
    enum State { Starting, Waiting, Completed };
    struct Frame
    {
        const LogicNode<T> *node;
        int phase;
    };

    // Applies the finished child's completion to the frames above it. Returns the next node to
    // start, or nothing when the whole tree is done (and `this` deleted).
    std::optional<std::pair<const Node<T> *, T>> ascend()
    {
        Completion<T> c = std::move(*m_done);
        m_done.reset();
        while (!m_stack.empty()) {
            if (!c.hasResult())
                break; // an exception or a cancellation ends the whole tree
            Frame &f = m_stack.back();
            const bool ok = c.result.ok;
            switch (f.node->logicKind()) {
            case LogicKind::Not:
                c = valueCompletion(!ok, std::move(c.result.ctx));
                m_stack.pop_back();
                continue;
            case LogicKind::And:
            case LogicKind::Or:
                if (f.phase == 0 && ok == (f.node->logicKind() == LogicKind::And)) {
                    f.phase = 1;
                    return std::make_pair(f.node->second(), std::move(c.result.ctx));
                }
                m_stack.pop_back();
                continue;
            case LogicKind::Then:
                if (f.phase == 0) {
                    f.phase = 1;
                    return std::make_pair(f.node->second(), std::move(c.result.ctx));
                }
                m_stack.pop_back();
                continue;
            case LogicKind::IfElse:
                if (f.phase == 0) {
                    f.phase = 1;
                    return std::make_pair(ok ? f.node->second() : f.node->third(),
                                          std::move(c.result.ctx));
                }
                m_stack.pop_back();
                continue;
            case LogicKind::None:
                break;
            }
        }
        Sink<T> *parent = m_parent;
        delete this;
        parent->complete(std::move(c));
        return std::nullopt;
    }

    Sink<T> *m_parent;
    Scope *m_scope;
    std::vector<Frame> m_stack;
    std::optional<Completion<T>> m_done;
    std::atomic<int> m_state {Starting};
};

template<typename T>
void LogicNode<T>::start(T ctx, Sink<T> *sink, Scope *scope) const
{
    (new LogicRun<T>(sink, scope))->drive(this, std::move(ctx));
}

template<typename T>
void LogicNode<T>::describe(QString &out) const
{
    // Iterative as well: repr() of a 10,000-long chain must not recurse 10,000 deep.
    struct Item
    {
        const Node<T> *node;
        const char *text; // printed instead of a node when node is null
    };
    std::vector<Item> todo {{this, nullptr}};
    while (!todo.empty()) {
        Item item = todo.back();
        todo.pop_back();
        if (!item.node) {
            out += QLatin1String(item.text);
            continue;
        }
        if (item.node->logicKind() == LogicKind::None) {
            item.node->describe(out);
            continue;
        }
        auto *n = static_cast<const LogicNode<T> *>(item.node);
        // Pushed in reverse order of printing.
        switch (n->logicKind()) {
        case LogicKind::Not:
            todo.push_back({n->first(), nullptr});
            todo.push_back({nullptr, "~"});
            break;
        case LogicKind::IfElse:
            todo.push_back({nullptr, ")"});
            todo.push_back({n->third(), nullptr});
            todo.push_back({nullptr, ", "});
            todo.push_back({n->second(), nullptr});
            todo.push_back({nullptr, ", "});
            todo.push_back({n->first(), nullptr});
            todo.push_back({nullptr, "AsyncIfThenElse("});
            break;
        default: {
            const char *op = n->logicKind() == LogicKind::And ? " & "
                    : n->logicKind() == LogicKind::Or         ? " | "
                                                              : " >> ";
            todo.push_back({nullptr, ")"});
            todo.push_back({n->second(), nullptr});
            todo.push_back({nullptr, op});
            todo.push_back({n->first(), nullptr});
            todo.push_back({nullptr, "("});
        }
        }
    }
}

template<typename T>
void describeNode(const NodePtr<T> &node, QString &out)
{
    node->describe(out);
}

// ---- Leaves: functions returning a QFuture or a plain value --------------------------------

template<typename X>
struct IsQFuture : std::false_type
{ };
template<typename X>
struct IsQFuture<QFuture<X>> : std::true_type
{
    using Value = X;
};

//! Waits for a task's QFuture. Attached to the run's scope so that a cancellation reaches the
//! task; settled exactly once, by the task finishing or by the cancellation.
template<typename T, typename X, bool Pipe>
class FutureAwait final : public Cancelable
{
public:
    using Value = X;

    FutureAwait(Sink<T> *sink, Scope *scope, T ctx, QFuture<X> future)
        : m_sink(sink), m_scope(scope), m_ctx(std::move(ctx)), m_future(std::move(future))
    { }

    void cancel() override
    {
        m_future.cancel();
        if (!m_settled.exchange(true, std::memory_order_acq_rel))
            m_sink->complete(canceledCompletion(std::move(m_ctx)));
    }

    void finished(QFuture<X> &f)
    {
        if (m_settled.exchange(true, std::memory_order_acq_rel))
            return;
        m_scope->detach(this);
        m_sink->complete(read(f, std::move(m_ctx)));
    }

    //! The continuation was dropped without running: Qt skips a then() on a future cancelled
    //! without an exception (the task gave up, or its QPromise was destroyed unfinished).
    void abandoned()
    {
        if (m_settled.exchange(true, std::memory_order_acq_rel))
            return;
        m_scope->detach(this);
        // The run did not ask for this: the work did not answer, which is a failed verdict.
        m_sink->complete(valueCompletion(false, std::move(m_ctx)));
    }

    static Completion<T> read(QFuture<X> &f, T ctx)
    {
        if (f.isCanceled()) {
            // Qt 6.4 also flags a stored exception as cancelled; waitForFinished() rethrows it.
            try {
                f.waitForFinished();
            } catch (...) {
                if constexpr (Pipe)
                    return valueCompletion(false, std::move(ctx));
                else
                    return errorCompletion(std::move(ctx), std::current_exception());
            }
            if (f.resultCount() == 0)
                return valueCompletion(false, std::move(ctx));
        }
        if constexpr (Pipe)
            return valueCompletion(true, f.result());
        else
            return valueCompletion(bool(f.result()), std::move(ctx));
    }

private:
    Sink<T> *m_sink;
    Ref<Scope> m_scope; // a run's cancellation can free the scope's other owners early
    T m_ctx;
    QFuture<X> m_future;
    std::atomic<bool> m_settled {false};
};

//! Moved through Qt's continuation machinery; tells the await when Qt drops it unrun.
template<typename Await>
class AwaitGuard
{
public:
    explicit AwaitGuard(Await *a) : m_await(a) { a->ref(); }
    // Qt's ContinuationWrapper "copies" by moving; do the same so that exactly one guard is
    // live, whatever Qt does with it.
    AwaitGuard(const AwaitGuard &o)
        : m_await(std::exchange(const_cast<AwaitGuard &>(o).m_await, nullptr))
    { }
    AwaitGuard(AwaitGuard &&o) noexcept : m_await(std::exchange(o.m_await, nullptr)) { }
    AwaitGuard &operator=(const AwaitGuard &) = delete;
    ~AwaitGuard()
    {
        if (m_await) {
            m_await->abandoned();
            m_await->deref();
        }
    }
    void operator()(QFuture<typename Await::Value> f)
    {
        Await *a = std::exchange(m_await, nullptr);
        a->finished(f);
        a->deref();
    }

private:
    Await *m_await;
};

template<typename T, bool Pipe, typename R>
void deliverTaskResult(R &&r, T ctx, Sink<T> *sink, Scope *scope)
{
    if constexpr (IsQFuture<std::decay_t<R>>::value) {
        using X = typename IsQFuture<std::decay_t<R>>::Value;
        static_assert(!std::is_void_v<X>,
                      "a task must return QFuture<bool> (rule) or QFuture<T> (pipe)");
        QFuture<X> f = std::forward<R>(r);
        if (f.isFinished()) { // read at once: no then(), no allocation
            sink->complete(FutureAwait<T, X, Pipe>::read(f, std::move(ctx)));
            return;
        }
        using Await = FutureAwait<T, X, Pipe>;
        auto *await = new Await(sink, scope, std::move(ctx), f);
        if (!scope->attach(await)) {
            await->cancel();
            await->deref();
            return;
        }
#if KOMPOZ_DIRECT_CONTINUATION
        QtPrivate::Continuation<DirectContinuationTag, void, X>::attach(f,
                                                                        AwaitGuard<Await>(await));
#else
        f.then(AwaitGuard<Await>(await));
#endif
        await->deref();
    } else if constexpr (Pipe) {
        sink->complete(valueCompletion(true, T(std::forward<R>(r))));
    } else {
        sink->complete(valueCompletion(bool(std::forward<R>(r)), std::move(ctx)));
    }
}

template<typename T, typename Fn, bool Pipe>
class FunctionNode final : public Node<T>
{
public:
    FunctionNode(QObject *context, Fn fn, QString name)
        : m_context(context),
          m_hasContext(context != nullptr),
          m_fn(std::move(fn)),
          m_name(std::move(name))
    { }

    void start(T ctx, Sink<T> *sink, Scope *scope) const override
    {
        if (m_hasContext) {
            QObject *context = m_context.data();
            if (!context) {
                sink->complete(canceledCompletion(std::move(ctx)));
                return;
            }
            if (context->thread() != QThread::currentThread()) {
                post(context, std::move(ctx), sink, scope);
                return;
            }
        }
        invoke(std::move(ctx), sink, scope);
    }

    void describe(QString &out) const override
    {
        out += Pipe ? QLatin1String("AsyncTransform(") : QLatin1String("AsyncPredicate(");
        out += m_name.isEmpty() ? QStringLiteral("<function>") : m_name;
        out += QLatin1Char(')');
    }

private:
    void invoke(T ctx, Sink<T> *sink, Scope *scope) const
    {
        if (scope->isCanceled()) { // never start work for a run nobody waits for
            sink->complete(canceledCompletion(std::move(ctx)));
            return;
        }
        using R = std::invoke_result_t<const Fn &, const T &>;
        std::optional<R> r;
        try {
            r.emplace(std::invoke(m_fn, std::as_const(ctx)));
        } catch (...) {
            if constexpr (Pipe)
                sink->complete(valueCompletion(false, std::move(ctx)));
            else
                sink->complete(errorCompletion(std::move(ctx), std::current_exception()));
            return;
        }
        deliverTaskResult<T, Pipe>(std::move(*r), std::move(ctx), sink, scope);
    }

    // In the context's thread, through its event loop. If the context dies first Qt drops the
    // event, and with it the guard, which then ends the run as cancelled.
    void post(QObject *context, T ctx, Sink<T> *sink, Scope *scope) const
    {
        struct Posted
        {
            const FunctionNode *node = nullptr;
            Sink<T> *sink = nullptr;
            Scope *scope = nullptr;
            std::optional<T> ctx;
            bool ran = false;
            ~Posted()
            {
                if (!ran && ctx)
                    sink->complete(canceledCompletion(std::move(*ctx)));
            }
        };
        // Built in place: a temporary Posted moved into make_shared would run its destructor
        // and end the run as cancelled before the posted call ran.
        auto posted = std::make_shared<Posted>();
        posted->node = this;
        posted->sink = sink;
        posted->scope = scope;
        posted->ctx.emplace(std::move(ctx));
        QMetaObject::invokeMethod(context, queuedCall([posted] {
                                      posted->ran = true;
                                      posted->node->invoke(std::move(*posted->ctx), posted->sink,
                                                           posted->scope);
                                  }),
                                  Qt::QueuedConnection);
    }

    QPointer<QObject> m_context;
    bool m_hasContext;
    Fn m_fn;
    QString m_name;
};

template<typename T>
const NodePtr<T> &checked(const AsyncCombinator<T> &c, const char *function, const char *parameter);

// ---- parallelAnd / parallelOr ----------------------------------------------------------------

template<typename T>
class ParallelNode final : public Node<T>
{
public:
    ParallelNode(bool isAnd, std::vector<NodePtr<T>> children, bool early)
        : m_isAnd(isAnd), m_early(early), m_children(std::move(children))
    { }
    void start(T ctx, Sink<T> *sink, Scope *scope) const override;
    void describe(QString &out) const override
    {
        out += m_isAnd ? QLatin1String("ParallelAnd([") : QLatin1String("ParallelOr([");
        for (size_t i = 0; i < m_children.size(); ++i) {
            if (i)
                out += QLatin1String(", ");
            m_children[i]->describe(out);
        }
        out += m_isAnd ? QLatin1String("], fail_fast=") : QLatin1String("], cancel_on_success=");
        out += m_early ? QLatin1String("True)") : QLatin1String("False)");
    }

    bool m_isAnd;
    bool m_early; // failFast for And, cancelOnSuccess for Or
    std::vector<NodePtr<T>> m_children;
};

template<typename T>
class ParallelRun final : public RefCounted
{
public:
    struct Child final : Sink<T>
    {
        ParallelRun *run = nullptr;
        Scope *scope = nullptr; // own reference
        void complete(Completion<T> &&c) override { run->childDone(this, std::move(c)); }
    };

    ParallelRun(const ParallelNode<T> *node, Sink<T> *sink, Scope *scope, const T &ctx)
        : m_node(node),
          m_sink(sink),
          m_scope(scope),
          m_ctx(ctx),
          m_children(node->m_children.size())
    { }
    ~ParallelRun() override
    {
        for (Child &c : m_children) {
            if (c.scope)
                c.scope->deref();
        }
    }

    void startAll()
    {
        for (size_t i = 0; i < m_children.size(); ++i) {
            Child &c = m_children[i];
            {
                Locker lock(m_mutex);
                if (m_decided)
                    break; // fail-fast or first success already decided: start no more
                ++m_started;
                c.run = this;
                c.scope = new Scope(m_scope.get());
            }
            ref(); // released when the child completes
            if (!m_scope->attach(c.scope))
                c.scope->cancel();
            m_node->m_children[i]->start(m_ctx, &c, c.scope);
        }
        Locker lock(m_mutex);
        m_startedAll = true;
        const bool finish = m_finishedChildren == m_started && !m_decided;
        if (finish)
            m_decided = true;
        lock.unlock();
        if (finish)
            m_sink->complete(finalCompletion());
    }

private:
    void childDone(Child *child, Completion<T> &&c)
    {
        m_scope->detach(child->scope);
        bool decideNow = false;
        std::optional<Completion<T>> early;
        std::vector<Ref<Scope>> toCancel;
        {
            Locker lock(m_mutex);
            ++m_finishedChildren;
            if (!m_decided) {
                const bool canceledByUs = c.outcome == Outcome::Canceled && m_scope->isCanceled();
                if (c.outcome == Outcome::Error) {
                    if (m_node->m_isAnd) {
                        if (!m_error)
                            m_error = c.error;
                        m_allOk = false;
                    } // in parallelOr an exception is that child failing
                } else if (canceledByUs) {
                    m_canceled = true;
                } else {
                    const bool ok = c.hasResult() && c.result.ok;
                    m_allOk = m_allOk && ok;
                    m_anyOk = m_anyOk || ok;
                }
                if (m_node->m_early && !m_canceled) {
                    if (m_node->m_isAnd && !m_allOk)
                        early = m_error ? errorCompletion(m_ctx, m_error)
                                        : valueCompletion(false, m_ctx);
                    else if (!m_node->m_isAnd && m_anyOk)
                        early = valueCompletion(true, m_ctx);
                    if (early) {
                        decideNow = true;
                        for (Child &other : m_children) {
                            if (&other != child && other.scope)
                                toCancel.emplace_back(other.scope);
                        }
                    }
                }
                if (!decideNow && m_startedAll && m_finishedChildren == m_started)
                    decideNow = true;
                if (decideNow)
                    m_decided = true;
            }
        }
        // Deliver first: the siblings' cancellation must not delay the verdict.
        if (decideNow)
            m_sink->complete(early ? std::move(*early) : finalCompletion());
        for (const Ref<Scope> &s : toCancel)
            s->cancel();
        deref();
    }

    Completion<T> finalCompletion()
    {
        if (m_canceled || m_scope->isCanceled())
            return canceledCompletion(m_ctx);
        if (m_error)
            return errorCompletion(m_ctx, m_error);
        return valueCompletion(m_node->m_isAnd ? m_allOk : m_anyOk, m_ctx);
    }

    const ParallelNode<T> *m_node;
    Sink<T> *m_sink;
    Ref<Scope> m_scope; // children may outlive the verdict; the scope must outlive them
    T m_ctx;
    std::vector<Child> m_children; // sized once; addresses stay put
    Mutex m_mutex;
    int m_started = 0; // guarded by m_mutex
    int m_finishedChildren = 0; // guarded by m_mutex
    bool m_startedAll = false; // guarded by m_mutex
    bool m_decided = false; // guarded by m_mutex
    bool m_allOk = true; // guarded by m_mutex
    bool m_anyOk = false; // guarded by m_mutex
    bool m_canceled = false; // guarded by m_mutex
    std::exception_ptr m_error; // guarded by m_mutex
};

template<typename T>
void ParallelNode<T>::start(T ctx, Sink<T> *sink, Scope *scope) const
{
    auto *run = new ParallelRun<T>(this, sink, scope, ctx);
    run->startAll();
    run->deref();
}

// ---- Roots: where a run's end reaches the caller --------------------------------------------

//! The caller's QFuture. Made once per run, after the inner run started: a run that finished
//! at once gets a ready future and nothing else.
template<typename T>
class FutureRoot final : public WatchedRun, public Sink<T>
{
public:
    static QFuture<Result<T>> run(const NodePtr<T> &node, T ctx)
    {
        if (node->rejectsAtOnce()) {
            // The caller's future and nothing else: no root, no scope, no watch.
            QFutureInterface<Result<T>> fi;
            fi.reportStarted();
            fi.reportAndMoveResult(Result<T> {false, std::move(ctx)});
            fi.reportFinished();
            return fi.future();
        }
        auto *root = new FutureRoot(node); // one reference for the inner run, one for us below
        root->ref();
        node->start(std::move(ctx), root, root);
        QFuture<Result<T>> future = root->m_fi.future();
        int expected = Starting;
        if (root->m_state.compare_exchange_strong(expected, Waiting, std::memory_order_acq_rel)) {
            // The caller may cancel the future; Qt tells nobody (pitfall #2): the timer
            // service sweeps it. A run that finishes meanwhile is dropped by the sweep.
            TimerService::instance().watch(root);
        } else {
            root->deliver();
        }
        root->deref();
        return future;
    }

    // The reference the inner run holds is dropped here and only here, even when the caller
    // cancelled first: frames below may use this scope until they complete.
    void complete(Completion<T> &&c) override
    {
        if (!m_settled.exchange(true, std::memory_order_acq_rel)) {
            m_done.emplace(std::move(c));
            int expected = Starting;
            if (!m_state.compare_exchange_strong(expected, Completed, std::memory_order_acq_rel)) {
                TimerService::instance().unwatch(this);
                deliver();
            } // else run() delivers it
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
        // The inner work was cancelled above (Scope::cancel); now let waiters go.
        m_fi.cancel();
        m_fi.reportFinished();
    }

private:
    enum State { Starting, Waiting, Completed };

    // The caller's future is made here, once: a default-constructed QFutureInterface member
    // replaced later would make (and free) a second QFuture state per run.
    explicit FutureRoot(NodePtr<T> node) : m_keepAlive(std::move(node)) { m_fi.reportStarted(); }

    void deliver()
    {
        Completion<T> &c = *m_done;
        // QtCore stores an exception (reportException) and hands it to the caller's
        // waitForFinished() or result() under the state's mutex, locked inside QtCore where
        // ThreadSanitizer cannot see it: the edge a caller in another thread acquires on the same
        // address (tests/testlib/kompoztest.h) before it reads what this run threw.
        KOMPOZ_TSAN_RELEASE(&m_fi.mutex());
        switch (c.outcome) {
        case Outcome::Error:
            m_fi.reportException(c.error);
            break;
        case Outcome::Canceled:
            m_fi.cancel();
            break;
        default:
            m_fi.reportResult(std::move(c.result));
        }
        m_fi.reportFinished();
    }

    NodePtr<T> m_keepAlive; // a handle dropped mid-run must not take the tree with it
    std::atomic<int> m_state {Starting};
    std::atomic<bool> m_settled {false};
    QFutureInterface<Result<T>> m_fi; // Started|Running: result() waits only on a running future
    std::optional<Completion<T>> m_done;
};

template<typename T, typename Fn>
class CallbackRoot final : public Scope, public Sink<T>
{
public:
    CallbackRoot(NodePtr<T> node, QObject *context, Fn &&fn)
        : m_keepAlive(std::move(node)),
          m_fn(std::move(fn)),
          m_context(context),
          m_hasContext(context != nullptr)
    { }

    void complete(Completion<T> &&c) override
    {
        if (!m_settled.exchange(true, std::memory_order_acq_rel))
            dispatch(std::move(c));
        deref(); // the inner run's reference, as in FutureRoot
    }

    bool isSettled() const { return m_settled.load(std::memory_order_acquire); }

protected:
    void onCanceled() override
    {
        if (m_settled.exchange(true, std::memory_order_acq_rel))
            return;
        if (m_ctx)
            dispatch(canceledCompletion(std::move(*m_ctx)));
    }

public:
    std::optional<T> m_ctx; // only kept for a cancellation report, when the run is pending

private:
    void dispatch(Completion<T> &&c)
    {
        if (!m_hasContext) {
            call(m_fn, std::move(c));
            return;
        }
        QObject *context = m_context.data();
        if (!context)
            return; // as QObject::connect: a dead receiver gets nothing
        if (context->thread() == QThread::currentThread()) {
            call(m_fn, std::move(c));
            return;
        }
        QMetaObject::invokeMethod(context,
                                  queuedCall([fn = std::move(m_fn), c = std::move(c)]() mutable {
                                      call(fn, std::move(c));
                                  }),
                                  Qt::QueuedConnection);
    }

    static void call(Fn &fn, Completion<T> &&c)
    {
        // The callback runs inside the library's completion chain (in the task's thread, the
        // timer thread, ...): an exception it throws must not unwind through our frames.
        try {
            if constexpr (std::is_invocable_v<Fn &, Completion<T> &&>) {
                std::invoke(fn, std::move(c));
            } else {
                static_assert(std::is_invocable_v<Fn &, Result<T> &&>,
                              "the callback must take kompoz::Completion<T> or kompoz::Result<T>");
                if (c.outcome == Outcome::Canceled)
                    return;
                if (c.outcome == Outcome::Error)
                    warnDroppedError("AsyncCombinator::run: a callback that takes Result<T>");
                std::invoke(fn, std::move(c.result));
            }
        } catch (...) {
            warnCallbackThrew("AsyncCombinator::run: the completion callback",
                              std::current_exception());
        }
    }

    NodePtr<T> m_keepAlive;
    Fn m_fn;
    QPointer<QObject> m_context;
    bool m_hasContext;
    std::atomic<bool> m_settled {false};
};

} // namespace detail
//! \endcond

//! A handle to a combinator. Cheap to copy; copies share the same combinator and its state.
//! \code
//! kompoz::AsyncCombinator<int> positive = kompoz::asyncRule<int>([](int x) { return x > 0; });
//! positive.run(5).then([](kompoz::Result<int> r) { qDebug() << r.ok; });
//! \endcode
template<typename T>
class AsyncCombinator
{
public:
    using Context = T;

    AsyncCombinator() = default;
    explicit AsyncCombinator(detail::NodePtr<T> node) : m_node(std::move(node)) { }

    bool isNull() const { return !m_node; }

    //! Runs on `ctx`. Never blocks; the future holds the result, the exception the work threw,
    //! or nothing if cancelled. Cancelling it cancels the inner work.
    QFuture<Result<T>> run(T ctx) const
    {
        return detail::FutureRoot<T>::run(detail::checked(*this, "run", "this"), std::move(ctx));
    }

    //! Runs on `ctx` and calls `fn` in `context`'s thread (as QFuture::then(context, fn)) with
    //! a kompoz::Completion<T> or a kompoz::Result<T>. Makes no QFuture: the fastest path.
    template<typename Fn>
    RunHandle run(T ctx, QObject *context, Fn fn) const
    {
        if (!context)
            detail::throwInvalid("AsyncCombinator::run", "context", "is null");
        return runWithCallback(std::move(ctx), context, std::move(fn));
    }
    //! As above, `fn` called in whichever thread the run ends in.
    template<typename Fn, typename = std::enable_if_t<!std::is_convertible_v<Fn, QObject *>>>
    RunHandle run(T ctx, Fn fn) const
    {
        return runWithCallback(std::move(ctx), nullptr, std::move(fn));
    }

    //! kompoz's __repr__: the structure and the leaves' names.
    QString repr() const
    {
        QString out;
        if (m_node)
            m_node->describe(out);
        else
            out = QStringLiteral("AsyncCombinator(null)");
        return out;
    }

    //! Runs `thenBranch` if this passes, else `elseBranch`, on this one's output context.
    AsyncCombinator ifElse(const AsyncCombinator &thenBranch,
                           const AsyncCombinator &elseBranch) const
    {
        return AsyncCombinator(std::make_shared<detail::LogicNode<T>>(
                detail::LogicKind::IfElse, detail::checked(*this, "ifElse", "this"),
                detail::checked(thenBranch, "ifElse", "thenBranch"),
                detail::checked(elseBranch, "ifElse", "elseBranch")));
    }

    //! \internal
    const detail::NodePtr<T> &nodePtr() const { return m_node; }

protected:
    const detail::Node<T> *node(const char *function) const
    {
        return detail::checked(*this, function, "this").get();
    }

    template<typename Fn>
    RunHandle runWithCallback(T ctx, QObject *context, Fn &&fn) const
    {
        const detail::NodePtr<T> &n = detail::checked(*this, "run", "this");
        auto *root = new detail::CallbackRoot<T, std::decay_t<Fn>>(n, context,
                                                                   std::forward<Fn>(fn));
        root->ref(); // ours, until we know whether the run is pending
        if constexpr (std::is_copy_constructible_v<T>)
            root->m_ctx.emplace(ctx);
        n->start(std::move(ctx), root, root);
        if (root->isSettled()) {
            root->deref();
            return {};
        }
        return RunHandle(detail::Ref<detail::Scope>::adopt(root));
    }

    detail::NodePtr<T> m_node;
};

//! \cond internal
namespace detail {
template<typename T>
const NodePtr<T> &checked(const AsyncCombinator<T> &c, const char *function, const char *parameter)
{
    if (c.isNull())
        throwInvalid(function, parameter, "is an empty combinator handle");
    return c.nodePtr();
}

template<typename T, bool Pipe, typename Fn>
AsyncCombinator<T> makeFunctionNode(QObject *context, Fn &&fn, QString name)
{
    using F = std::decay_t<Fn>;
    static_assert(std::is_invocable_v<const F &, const T &>,
                  "the function must be callable with const T &");
    using R = std::invoke_result_t<const F &, const T &>;
    if constexpr (Pipe) {
        static_assert(std::is_convertible_v<R, T> || std::is_same_v<R, QFuture<T>>,
                      "asyncPipe's function must return T or QFuture<T>");
    } else {
        static_assert(std::is_convertible_v<R, bool> || std::is_same_v<R, QFuture<bool>>,
                      "asyncRule's function must return bool or QFuture<bool>");
    }
    return AsyncCombinator<T>(std::make_shared<FunctionNode<T, F, Pipe>>(
            context, std::forward<Fn>(fn), std::move(name)));
}
} // namespace detail
//! \endcond

//! kompoz's async_rule: a leaf from `fn(const T &) -> QFuture<bool>` or `-> bool`; its result
//! is `{verdict, ctx}`. An exception thrown by `fn`, or held by its future, reaches the caller.
template<typename T, typename Fn,
         typename = std::enable_if_t<!std::is_convertible_v<std::decay_t<Fn>, QObject *>>>
AsyncCombinator<T> asyncRule(Fn &&fn, QString name = {})
{
    return detail::makeFunctionNode<T, false>(nullptr, std::forward<Fn>(fn), std::move(name));
}

//! As asyncRule(fn, name), with `fn` called in `context`'s thread (needed for objects such as
//! QNetworkAccessManager that must be used from their own thread).
template<typename T, typename Fn>
AsyncCombinator<T> asyncRule(QObject *context, Fn &&fn, QString name = {})
{
    if (!context)
        detail::throwInvalid("asyncRule", "context", "is null");
    return detail::makeFunctionNode<T, false>(context, std::forward<Fn>(fn), std::move(name));
}

//! kompoz's async_pipe: a leaf from `fn(const T &) -> QFuture<T>` or `-> T`; its result is
//! `{true, newCtx}`, or `{false, ctx}` when `fn` throws.
template<typename T, typename Fn,
         typename = std::enable_if_t<!std::is_convertible_v<std::decay_t<Fn>, QObject *>>>
AsyncCombinator<T> asyncPipe(Fn &&fn, QString name = {})
{
    return detail::makeFunctionNode<T, true>(nullptr, std::forward<Fn>(fn), std::move(name));
}

template<typename T, typename Fn>
AsyncCombinator<T> asyncPipe(QObject *context, Fn &&fn, QString name = {})
{
    if (!context)
        detail::throwInvalid("asyncPipe", "context", "is null");
    return detail::makeFunctionNode<T, true>(context, std::forward<Fn>(fn), std::move(name));
}

//! `a & b`: runs `b` on `a`'s output only if `a` passed.
template<typename T>
AsyncCombinator<T> operator&(const AsyncCombinator<T> &a, const AsyncCombinator<T> &b)
{
    return AsyncCombinator<T>(std::make_shared<detail::LogicNode<T>>(
            detail::LogicKind::And, detail::checked(a, "operator&", "left"),
            detail::checked(b, "operator&", "right")));
}

//! `a | b`: runs `b` on `a`'s output only if `a` failed.
template<typename T>
AsyncCombinator<T> operator|(const AsyncCombinator<T> &a, const AsyncCombinator<T> &b)
{
    return AsyncCombinator<T>(std::make_shared<detail::LogicNode<T>>(
            detail::LogicKind::Or, detail::checked(a, "operator|", "left"),
            detail::checked(b, "operator|", "right")));
}

//! `a >> b`: runs both, `b` on `a`'s output; `b`'s verdict.
template<typename T>
AsyncCombinator<T> operator>>(const AsyncCombinator<T> &a, const AsyncCombinator<T> &b)
{
    return AsyncCombinator<T>(std::make_shared<detail::LogicNode<T>>(
            detail::LogicKind::Then, detail::checked(a, "operator>>", "left"),
            detail::checked(b, "operator>>", "right")));
}

//! `~a`: inverts the verdict.
template<typename T>
AsyncCombinator<T> operator~(const AsyncCombinator<T> &a)
{
    return AsyncCombinator<T>(std::make_shared<detail::LogicNode<T>>(
            detail::LogicKind::Not, detail::checked(a, "operator~", "operand")));
}

//! kompoz's async_if_then_else.
template<typename T>
AsyncCombinator<T> asyncIfThenElse(const AsyncCombinator<T> &condition,
                                   const AsyncCombinator<T> &thenBranch,
                                   const AsyncCombinator<T> &elseBranch)
{
    if (condition.isNull())
        detail::throwInvalid("asyncIfThenElse", "condition", "is an empty combinator handle");
    return condition.ifElse(thenBranch, elseBranch);
}

//! \cond internal
namespace detail {
template<typename T>
std::vector<NodePtr<T>> parallelChildren(const QList<AsyncCombinator<T>> &cs, const char *function)
{
    if (cs.isEmpty())
        throwInvalid(function, "combinators", "needs at least one combinator");
    std::vector<NodePtr<T>> nodes;
    nodes.reserve(size_t(cs.size()));
    for (const auto &c : cs)
        nodes.push_back(checked(c, function, "combinators"));
    return nodes;
}
} // namespace detail
//! \endcond

//! kompoz's parallel_and: all run at once on `ctx`; `{allOk, ctx}`. With `failFast` the others
//! are cancelled at the first failure. A child's exception reaches the caller.
template<typename T>
AsyncCombinator<T> parallelAnd(const QList<AsyncCombinator<T>> &combinators, bool failFast = false)
{
    return AsyncCombinator<T>(std::make_shared<detail::ParallelNode<T>>(
            true, detail::parallelChildren(combinators, "parallelAnd"), failFast));
}

//! kompoz's parallel_or: all run at once on `ctx`; `{anyOk, ctx}`. With `cancelOnSuccess` the
//! others are cancelled at the first success. A child's exception counts as it failing.
template<typename T>
AsyncCombinator<T> parallelOr(const QList<AsyncCombinator<T>> &combinators,
                              bool cancelOnSuccess = true)
{
    return AsyncCombinator<T>(std::make_shared<detail::ParallelNode<T>>(
            false, detail::parallelChildren(combinators, "parallelOr"), cancelOnSuccess));
}

//! parallelAnd({a, b, c}): a braced list of handles of one T (AsyncTimeout<T>, AsyncLimited<T>,
//! ... mixed), which a QList<AsyncCombinator<T>> parameter cannot deduce T from.
template<typename T>
AsyncCombinator<T> parallelAnd(std::initializer_list<AsyncCombinator<T>> combinators,
                               bool failFast = false)
{
    return parallelAnd(QList<AsyncCombinator<T>>(combinators), failFast);
}

//! parallelOr({a, b, c}), as parallelAnd's braced list.
template<typename T>
AsyncCombinator<T> parallelOr(std::initializer_list<AsyncCombinator<T>> combinators,
                              bool cancelOnSuccess = true)
{
    return parallelOr(QList<AsyncCombinator<T>>(combinators), cancelOnSuccess);
}

} // namespace kompoz
