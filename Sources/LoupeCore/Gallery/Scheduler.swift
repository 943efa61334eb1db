import Foundation

/// Hands items to workers in order, each once everything it depends on is done.
final class Scheduler: @unchecked Sendable {
    private let condition = NSCondition()
    private var pending: [Int]
    private var finished = Set<Int>()
    private let dependencies: [[Int]]

    init(work: [Int], dependencies: [[Int]]) {
        pending = work
        self.dependencies = dependencies
    }

    /// The first pending item that is ready, waiting while none is; nil when all are handed out.
    func next() -> Int? {
        condition.lock(); defer { condition.unlock() }
        while !pending.isEmpty {
            if let k = pending.firstIndex(where: { dependencies[$0].allSatisfy(finished.contains) }) {
                return pending.remove(at: k)
            }
            condition.wait()
        }
        return nil
    }

    func finish(_ i: Int) {
        condition.lock()
        finished.insert(i)
        condition.broadcast()
        condition.unlock()
    }
}
