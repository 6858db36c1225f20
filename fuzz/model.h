// SPDX-License-Identifier: MIT
#pragma once

// A reference model of kompoz's semantics: sequential, small and obviously correct, to compare
// the library against (fuzz/harness.h). It knows nothing of threads, futures or Qt: a run is a
// recursive evaluation of the tree, a hang is a value that a timeout turns into {false, ctx}.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace kompozmodel {

enum class Kind { Rule, Pipe, And, Or, Not, Then, IfElse, Breaker, Timeout };
enum class Leaf { Pass, Fail, Throw, Hang };
enum class State { Closed, Open, HalfOpen };

struct Node
{
    Kind kind = Kind::Rule;
    int a = -1, b = -1, c = -1; // children, by index
    int leaf = -1; // Rule, Pipe: which leaf
    int breaker = -1; // Breaker: which breaker
    int timeout = -1; // Timeout: which timeout
};

struct LeafSpec
{
    Leaf outcomes[8]; // cycled by invocation
    int increment = 1; // Pipe: ctx + increment
    bool underTimeout = false; // a hang outside any timeout would hang the run: it passes
    int calls = 0;
};

struct Breaker
{
    int threshold = 1;
    std::int64_t recoveryMs = 0;
    int halfOpenMax = 1;

    State state = State::Closed;
    int failureCount = 0;
    int successCount = 0;
    int halfOpenSuccesses = 0;
    int rejectedCount = 0;
    int trials = 0;
    unsigned generation = 0;
    std::int64_t lastFailureAt = 0;

    enum class Permit { Rejected, Normal, Trial };

    void to(State s)
    {
        state = s;
        if (s == State::HalfOpen) {
            trials = 0;
            halfOpenSuccesses = 0;
            ++generation;
        } else if (s == State::Closed) {
            failureCount = 0;
            trials = 0;
            halfOpenSuccesses = 0;
        }
    }
    Permit acquire(std::int64_t now)
    {
        if (state == State::Closed)
            return Permit::Normal;
        if (state == State::Open) {
            if (now - lastFailureAt < recoveryMs) {
                ++rejectedCount;
                return Permit::Rejected;
            }
            to(State::HalfOpen);
        }
        if (trials < halfOpenMax) {
            ++trials;
            return Permit::Trial;
        }
        ++rejectedCount;
        return Permit::Rejected;
    }
    void success()
    {
        ++successCount;
        if (state == State::HalfOpen) {
            if (++halfOpenSuccesses >= halfOpenMax)
                to(State::Closed);
        } else if (state == State::Closed) {
            failureCount = 0;
        }
    }
    void failure(std::int64_t now)
    {
        ++failureCount;
        lastFailureAt = now;
        if (state == State::HalfOpen || (state == State::Closed && failureCount >= threshold))
            to(State::Open);
    }
    void canceled(Permit p, unsigned gen)
    {
        if (p == Permit::Trial && state == State::HalfOpen && gen == generation && trials > 0)
            --trials;
    }
    void reset()
    {
        failureCount = 0;
        halfOpenSuccesses = 0;
        trials = 0;
        if (state != State::Closed)
            to(State::Closed);
    }
};

struct Res
{
    enum Type { Value, Error, Hung } type = Value;
    bool ok = false;
    int ctx = 0;
    int firedTimeout = -1; // Hung: the timeout whose deadline ends the hang
};

struct Model
{
    std::vector<Node> nodes;
    std::vector<LeafSpec> leaves;
    std::vector<Breaker> breakers;
    std::vector<int> timedOut; // per timeout
    std::vector<std::int64_t> timeoutMs; // per timeout: its duration
    std::int64_t now = 0; // the breakers' (manual) clock

    // Timeouts run on real time: a hang ends at the earliest deadline of the timeouts around
    // it, and later timeouts start that much later (virtual milliseconds since the run began).
    struct Active
    {
        int timeout;
        std::int64_t deadline;
    };
    std::vector<Active> active;
    std::int64_t elapsed = 0;

    Res run(int root, int ctx)
    {
        elapsed = 0;
        active.clear();
        return eval(root, ctx);
    }

    Res eval(int n, int ctx)
    {
        const Node &node = nodes[std::size_t(n)];
        switch (node.kind) {
        case Kind::Rule:
        case Kind::Pipe: {
            LeafSpec &l = leaves[std::size_t(node.leaf)];
            Leaf o = l.outcomes[l.calls++ % 8];
            if (o == Leaf::Hang && !l.underTimeout)
                o = Leaf::Pass;
            if (o == Leaf::Hang) {
                const Active *first = &active.front();
                for (const Active &a : active) {
                    if (a.deadline < first->deadline)
                        first = &a;
                }
                elapsed = first->deadline;
                return {Res::Hung, false, ctx, first->timeout};
            }
            if (node.kind == Kind::Pipe) {
                if (o == Leaf::Throw)
                    return {Res::Value, false, ctx};
                return {Res::Value, true, ctx + l.increment};
            }
            if (o == Leaf::Throw)
                return {Res::Error, false, ctx};
            return {Res::Value, o == Leaf::Pass, ctx};
        }
        case Kind::And:
        case Kind::Or: {
            const Res r = eval(node.a, ctx);
            if (r.type != Res::Value || r.ok != (node.kind == Kind::And))
                return r;
            return eval(node.b, r.ctx);
        }
        case Kind::Then: {
            const Res r = eval(node.a, ctx);
            return r.type != Res::Value ? r : eval(node.b, r.ctx);
        }
        case Kind::Not: {
            Res r = eval(node.a, ctx);
            if (r.type == Res::Value)
                r.ok = !r.ok;
            return r;
        }
        case Kind::IfElse: {
            const Res r = eval(node.a, ctx);
            if (r.type != Res::Value)
                return r;
            return eval(r.ok ? node.b : node.c, r.ctx);
        }
        case Kind::Breaker: {
            Breaker &b = breakers[std::size_t(node.breaker)];
            const Breaker::Permit p = b.acquire(now);
            if (p == Breaker::Permit::Rejected)
                return {Res::Value, false, ctx};
            const unsigned gen = b.generation;
            const Res r = eval(node.a, ctx);
            if (r.type == Res::Hung)
                b.canceled(p, gen); // the timeout above cancelled it: neither success nor failure
            else if (r.type == Res::Value && r.ok)
                b.success();
            else
                b.failure(now);
            return r;
        }
        case Kind::Timeout: {
            active.push_back({node.timeout, elapsed + timeoutMs[std::size_t(node.timeout)]});
            const Res r = eval(node.a, ctx);
            active.pop_back();
            if (r.type == Res::Hung && r.firedTimeout == node.timeout) {
                ++timedOut[std::size_t(node.timeout)];
                return {Res::Value, false, ctx};
            }
            return r;
        }
        }
        return {};
    }
};

} // namespace kompozmodel
