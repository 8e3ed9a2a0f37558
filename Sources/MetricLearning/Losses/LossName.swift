/// The losses by the names the command line uses, and how to build one from its settings.
public enum LossName: String, Sendable, CaseIterable {
    case proxyNCA = "proxy-nca"
    case proxyAnchor = "proxy-anchor"
    case softTriple = "soft-triple"
    case mpa
    case mpaDW = "mpa-dw"
    case mpaAP = "mpa-ap"

    /// Settings that override a loss's defaults; nil keeps the default. A setting a loss does
    /// not have is an error, so nobody believes they changed something they did not.
    public struct Overrides: Sendable {
        /// K, proxies per class (`--proxies`).
        public var proxies: Int?
        /// The scale alpha of ProxyAnchor and the MPA family (`--alpha`).
        public var alpha: Double?
        /// The margin delta (`--delta`).
        public var delta: Double?
        /// The class-similarity temperature gamma of eq. (1) (`--gamma`).
        public var gamma: Double?
        /// The proxy regulariser's weight tau of SoftTriple and the MPA family (`--tau`).
        public var tau: Double?
        /// SoftTriple's scale lambda (`--lambda`).
        public var lambda: Double?
        /// ProxyNCA's softmax scale s (`--scale`).
        public var scale: Double?

        /// Overrides of the given settings; nil keeps a loss's default.
        public init(proxies: Int? = nil, alpha: Double? = nil, delta: Double? = nil, gamma: Double? = nil,
                    tau: Double? = nil, lambda: Double? = nil, scale: Double? = nil) {
            self.proxies = proxies
            self.alpha = alpha
            self.delta = delta
            self.gamma = gamma
            self.tau = tau
            self.lambda = lambda
            self.scale = scale
        }

        /// The names of the settings that are set.
        var setNames: [String] {
            [("--proxies", proxies != nil), ("--alpha", alpha != nil), ("--delta", delta != nil), ("--gamma", gamma != nil),
             ("--tau", tau != nil), ("--lambda", lambda != nil), ("--scale", scale != nil)].filter(\.1).map(\.0)
        }
    }

    /// The settings each loss has.
    var settings: Set<String> {
        switch self {
        case .proxyNCA: ["--proxies", "--gamma", "--scale"]
        case .proxyAnchor: ["--proxies", "--alpha", "--delta"]
        case .softTriple: ["--proxies", "--lambda", "--gamma", "--tau", "--delta"]
        case .mpa, .mpaDW, .mpaAP: ["--proxies", "--alpha", "--delta", "--gamma", "--tau"]
        }
    }

    /// The loss with its defaults, overridden where given.
    /// - Throws: `ProxyLossError.invalidConfiguration` for a setting the loss does not have,
    ///   or ProxyAnchor with K other than 1.
    public func make(_ o: Overrides = Overrides()) throws -> any ProxyLoss {
        if let unknown = o.setNames.first(where: { !settings.contains($0) }) {
            throw ProxyLossError(
                code: .invalidConfiguration,
                message: "\(rawValue) has no setting \(unknown); its settings are \(settings.sorted().joined(separator: ", "))")
        }
        if self == .proxyAnchor, let k = o.proxies, k != 1 {
            throw ProxyLossError(
                code: .invalidConfiguration,
                message: "proxy-anchor has one proxy per class, found --proxies \(k); use mpa, which equals ProxyAnchor at K = 1, for more")
        }
        switch self {
        case .proxyNCA:
            var c = ProxyNCALoss.Configuration()
            if let v = o.proxies { c.proxiesPerClass = v }
            if let v = o.gamma { c.gamma = v }
            if let v = o.scale { c.scale = v }
            return ProxyNCALoss(c)
        case .proxyAnchor:
            var c = ProxyAnchorLoss.Configuration()
            if let v = o.alpha { c.alpha = v }
            if let v = o.delta { c.delta = v }
            return ProxyAnchorLoss(c)
        case .softTriple:
            var c = SoftTripleLoss.Configuration()
            if let v = o.proxies { c.proxiesPerClass = v }
            if let v = o.lambda { c.lambda = v }
            if let v = o.gamma { c.gamma = v }
            if let v = o.tau { c.tau = v }
            if let v = o.delta { c.delta = v }
            return SoftTripleLoss(c)
        case .mpa, .mpaDW, .mpaAP:
            var c = MPAConfiguration()
            if let v = o.proxies { c.proxiesPerClass = v }
            if let v = o.alpha { c.alpha = v }
            if let v = o.delta { c.delta = v }
            if let v = o.gamma { c.gamma = v }
            if let v = o.tau { c.tau = v }
            switch self {
            case .mpa: return MPALoss(c)
            case .mpaDW: return MPADWLoss(c)
            default: return MPAAPLoss(c)
            }
        }
    }
}
