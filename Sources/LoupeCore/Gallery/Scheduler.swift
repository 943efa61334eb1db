import Foundation
import Synchronization

/// Runs items on up to `jobs` threads, in order, each once everything it
/// depends on is done. No thread waits for a dependency: a thread that finds
/// nothing ready ends, and finishing an item starts threads for the items it
/// made ready, so the only wait is the caller's, for the whole run.
final class Scheduler: Sendable {
    private struct State {
        var pending: [Int]
        var finished = Set<Int>()
        var running = 0
    }

    private let state: Mutex<State>
    private let dependencies: [[Int]]
    private let jobs: Int
    private let group = DispatchGroup()

    /// `dependencies[i]` are the items `i` waits for; each must be in `work`
    /// (or already done), and `work` lists an item after its dependencies.
    init(work: [Int], dependencies: [[Int]], jobs: Int) {
        state = Mutex(State(pending: work))
        self.dependencies = dependencies
        self.jobs = max(1, jobs)
    }

    /// Calls `body` once for every item, returning when all are done.
    func run(_ body: @escaping @Sendable (Int) -> Void) {
        launch(body)
        group.wait()
    }

    /// Takes the first ready item, if a thread may start on it.
    private func take(_ s: inout State) -> Int? {
        guard s.running < jobs, let k = s.pending.firstIndex(where: { dependencies[$0].allSatisfy(s.finished.contains) }) else {
            return nil
        }
        s.running += 1
        return s.pending.remove(at: k)
    }

    /// Starts a thread for each ready item there is room for.
    private func launch(_ body: @escaping @Sendable (Int) -> Void) {
        let ready: [Int] = state.withLock { s in
            var ready: [Int] = []
            while let i = take(&s) { ready.append(i) }
            precondition(!ready.isEmpty || s.running > 0 || s.pending.isEmpty,
                         "gallery items \(s.pending) wait for items that are not scheduled")
            return ready
        }
        for first in ready {
            group.enter()
            let thread = Thread { [self] in
                var item: Int? = first
                while let i = item {
                    body(i)
                    item = state.withLock { s in
                        s.finished.insert(i)
                        s.running -= 1
                        return take(&s)
                    }
                    // What `i` made ready beyond this thread's next item.
                    launch(body)
                }
                group.leave()
            }
            // The figures' work is deep (Pango, Cairo, a forward pass): give each thread room.
            thread.stackSize = 8 << 20
            thread.start()
        }
    }
}
