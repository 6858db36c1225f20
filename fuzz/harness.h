// SPDX-License-Identifier: MIT
#pragma once

// Differential testing of the library against fuzz/model.h. Bytes decode into a random
// combinator tree (rules, pipes, &, |, ~, >>, ifElse, breakers, timeouts) plus a script of runs,
// clock steps and resets; the library and the model run the script side by side and every
// result, breaker state and count is compared after each step. Breakers read a ManualClock, so
// no step sleeps; a "hang" leaf is ended by the timeout above it (a few real ms).
//
// Used by fuzz/fuzz_combinators.cpp (libFuzzer) and tests/tst_model.cpp (replays the corpus).

#include "model.h"

#include <kompoz/kompoz.h>

#include <QPromise>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace kompozfuzz {

using namespace kompozmodel;

class Reader
{
public:
    Reader(const std::uint8_t *data, size_t size) : m_p(data), m_n(size) { }
    std::uint8_t next()
    {
        if (!m_n)
            return 0;
        --m_n;
        return *m_p++;
    }
    bool empty() const { return m_n == 0; }

private:
    const std::uint8_t *m_p;
    size_t m_n;
};

struct Case
{
    Model model;
    int root = -1;
    std::vector<std::uint8_t> script;
};

inline int build(Case &c, Reader &in, int depth, bool underTimeout, int &budget)
{
    const std::uint8_t b = in.next();
    Node node;
    const bool leafOnly = depth >= 4 || --budget <= 0;
    node.kind = leafOnly ? (b % 2 ? Kind::Pipe : Kind::Rule) : Kind(b % 9);
    switch (node.kind) {
    case Kind::Rule:
    case Kind::Pipe: {
        LeafSpec l;
        for (Leaf &o : l.outcomes)
            o = Leaf(in.next() % 4);
        l.increment = 1 + in.next() % 7;
        l.underTimeout = underTimeout;
        node.leaf = int(c.model.leaves.size());
        c.model.leaves.push_back(l);
        break;
    }
    case Kind::Breaker: {
        const std::uint8_t p = in.next();
        Breaker br;
        br.threshold = 1 + p % 3;
        br.recoveryMs = (p / 3 % 3) * 10;
        br.halfOpenMax = 1 + (p / 9) % 2;
        node.breaker = int(c.model.breakers.size());
        c.model.breakers.push_back(br);
        node.a = build(c, in, depth + 1, underTimeout, budget);
        break;
    }
    case Kind::Timeout:
        node.timeout = int(c.model.timedOut.size());
        c.model.timedOut.push_back(0);
        // Deeper timeouts are shorter, so nested deadlines never tie (2 ms apart at least).
        c.model.timeoutMs.push_back(2 * (12 - depth));
        node.a = build(c, in, depth + 1, true, budget);
        break;
    case Kind::Not:
        node.a = build(c, in, depth + 1, underTimeout, budget);
        break;
    case Kind::IfElse:
        node.a = build(c, in, depth + 1, underTimeout, budget);
        node.b = build(c, in, depth + 1, underTimeout, budget);
        node.c = build(c, in, depth + 1, underTimeout, budget);
        break;
    default:
        node.a = build(c, in, depth + 1, underTimeout, budget);
        node.b = build(c, in, depth + 1, underTimeout, budget);
        break;
    }
    c.model.nodes.push_back(node);
    return int(c.model.nodes.size()) - 1;
}

inline Case decode(const std::uint8_t *data, size_t size)
{
    Reader in(data, size);
    Case c;
    int budget = 12;
    c.root = build(c, in, 0, false, budget);
    for (int i = 0; i < 24 && !in.empty(); ++i)
        c.script.push_back(in.next());
    return c;
}

//! The library side of a case: the same tree, built with the real combinators.
class Real
{
public:
    explicit Real(const Case &c) : m_case(c)
    {
        m_calls.assign(c.model.leaves.size(), 0);
        m_breakers.resize(c.model.breakers.size());
        m_timeouts.resize(c.model.timedOut.size());
        m_root = make(c.root, 0);
    }
    ~Real()
    {
        // Hung tasks were cancelled by their timeout; finishing them now is what a cooperative
        // task does.
        for (auto &p : m_hungRules)
            p->finish();
        for (auto &p : m_hungPipes)
            p->finish();
    }

    kompoz::AsyncCombinator<int> root() const { return m_root; }
    int calls(int leaf) const { return m_calls[size_t(leaf)]; }
    kompoz::CircuitBreaker *breaker(int i) const { return m_breakers[size_t(i)]; }
    int timedOut(int i) const { return m_timeouts[size_t(i)]->timedOutCount(); }
    kompoz::ManualClock &clock() { return m_clock; }

private:
    Leaf nextOutcome(int leaf)
    {
        const LeafSpec &l = m_case.model.leaves[size_t(leaf)];
        const Leaf o = l.outcomes[m_calls[size_t(leaf)]++ % 8];
        return o == Leaf::Hang && !l.underTimeout ? Leaf::Pass : o;
    }
    template<typename X>
    static QFuture<X> settle(Leaf o, X value, std::vector<std::shared_ptr<QPromise<X>>> &hung)
    {
        auto p = std::make_shared<QPromise<X>>();
        p->start();
        QFuture<X> f = p->future();
        if (o == Leaf::Hang) {
            hung.push_back(p); // answers only when the timeout above cancels it
            return f;
        }
        p->addResult(value);
        p->finish();
        return f;
    }

    kompoz::AsyncCombinator<int> make(int n, int depth)
    {
        const Node &node = m_case.model.nodes[size_t(n)];
        switch (node.kind) {
        case Kind::Rule:
        case Kind::Pipe: {
            const int leaf = node.leaf;
            const QString name = QString::number(leaf);
            if (node.kind == Kind::Pipe) {
                const int inc = m_case.model.leaves[size_t(leaf)].increment;
                return kompoz::asyncPipe<int>(
                        [this, leaf, inc](int ctx) {
                            const Leaf o = nextOutcome(leaf);
                            if (o == Leaf::Throw)
                                throw std::runtime_error("leaf threw");
                            return settle<int>(o, ctx + inc, m_hungPipes);
                        },
                        name);
            }
            return kompoz::asyncRule<int>(
                    [this, leaf](int) {
                        const Leaf o = nextOutcome(leaf);
                        if (o == Leaf::Throw)
                            throw std::runtime_error("leaf threw");
                        return settle<bool>(o, o == Leaf::Pass, m_hungRules);
                    },
                    name);
        }
        case Kind::And:
            return make(node.a, depth + 1) & make(node.b, depth + 1);
        case Kind::Or:
            return make(node.a, depth + 1) | make(node.b, depth + 1);
        case Kind::Then:
            return make(node.a, depth + 1) >> make(node.b, depth + 1);
        case Kind::Not:
            return ~make(node.a, depth + 1);
        case Kind::IfElse:
            return make(node.a, depth + 1).ifElse(make(node.b, depth + 1), make(node.c, depth + 1));
        case Kind::Breaker: {
            const Breaker &spec = m_case.model.breakers[size_t(node.breaker)];
            auto cb = kompoz::circuitBreaker(make(node.a, depth + 1), spec.threshold,
                                             std::chrono::milliseconds(spec.recoveryMs),
                                             spec.halfOpenMax);
            cb.breaker()->setClock(&m_clock);
            m_breakers[size_t(node.breaker)] = cb.breaker();
            m_keep.push_back(cb);
            return cb;
        }
        case Kind::Timeout: {
            auto t = kompoz::withTimeout(
                    make(node.a, depth + 1),
                    std::chrono::milliseconds(m_case.model.timeoutMs[size_t(node.timeout)]));
            m_timeouts[size_t(node.timeout)] = t.policy();
            m_keep.push_back(t);
            return t;
        }
        }
        return {};
    }

    const Case &m_case;
    kompoz::ManualClock m_clock;
    std::vector<int> m_calls;
    std::vector<kompoz::CircuitBreaker *> m_breakers;
    std::vector<kompoz::TimeoutPolicy *> m_timeouts;
    std::vector<kompoz::AsyncCombinator<int>> m_keep;
    std::vector<std::shared_ptr<QPromise<bool>>> m_hungRules;
    std::vector<std::shared_ptr<QPromise<int>>> m_hungPipes;
    kompoz::AsyncCombinator<int> m_root;
};

inline kompoz::CircuitState toReal(State s)
{
    return s == State::Closed  ? kompoz::CircuitState::Closed
            : s == State::Open ? kompoz::CircuitState::Open
                               : kompoz::CircuitState::HalfOpen;
}

//! Runs one case through both; returns an empty string when they agree, else what differed.
inline std::string check(const std::uint8_t *data, size_t size)
{
    Case c = decode(data, size);
    Real real(c);
    Model &m = c.model;
    std::string diff;
    auto expect = [&diff](bool same, const std::string &what) {
        if (!same && diff.empty())
            diff = what;
    };
    int step = 0;
    for (std::uint8_t op : c.script) {
        ++step;
        const std::string at = "step " + std::to_string(step) + ": ";
        if (op % 8 == 6) { // move both clocks forward
            const int ms = (op / 8 % 4) * 10;
            m.now += ms;
            real.clock().advance(std::chrono::milliseconds(ms));
            continue;
        }
        if (op % 8 == 7 && !m.breakers.empty()) { // reset one breaker
            const int i = op / 8 % int(m.breakers.size());
            m.breakers[size_t(i)].reset();
            real.breaker(i)->reset();
        } else {
            const int ctx = op;
            const Res want = m.run(c.root, ctx);
            QFuture<kompoz::Result<int>> f = real.root().run(ctx);
            bool threw = false;
            try {
                f.waitForFinished();
            } catch (const std::runtime_error &) {
                threw = true;
            }
            if (want.type == Res::Error) {
                expect(threw, at + "the model threw, the library did not");
            } else {
                expect(!threw, at + "the library threw, the model did not");
                expect(f.resultCount() == 1, at + "no result");
                if (!threw && f.resultCount() == 1) {
                    const kompoz::Result<int> r = f.result();
                    expect(r.ok == want.ok,
                           at + "ok: library " + std::to_string(r.ok) + ", model " +
                                   std::to_string(want.ok));
                    expect(r.ctx == want.ctx,
                           at + "ctx: library " + std::to_string(r.ctx) + ", model " +
                                   std::to_string(want.ctx));
                }
            }
        }
        for (size_t i = 0; i < m.leaves.size(); ++i)
            expect(real.calls(int(i)) == m.leaves[i].calls,
                   at + "leaf " + std::to_string(i) + " ran " + std::to_string(real.calls(int(i))) +
                           " times, model " + std::to_string(m.leaves[i].calls));
        for (size_t i = 0; i < m.breakers.size(); ++i) {
            const kompoz::CircuitBreakerStats s = real.breaker(int(i))->stats();
            const Breaker &b = m.breakers[i];
            const std::string which = at + "breaker " + std::to_string(i) + " ";
            expect(s.state == toReal(b.state), which + "state");
            expect(s.failureCount == b.failureCount, which + "failureCount");
            expect(s.successCount == b.successCount, which + "successCount");
            expect(s.halfOpenSuccesses == b.halfOpenSuccesses, which + "halfOpenSuccesses");
            expect(s.rejectedCount == b.rejectedCount, which + "rejectedCount");
        }
        for (size_t i = 0; i < m.timedOut.size(); ++i)
            expect(real.timedOut(int(i)) == m.timedOut[i],
                   at + "timeout " + std::to_string(i) + " timedOutCount");
        if (!diff.empty())
            break;
    }
    return diff;
}

} // namespace kompozfuzz
