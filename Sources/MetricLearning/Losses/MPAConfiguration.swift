/// Hyperparameters shared by the MPA family (MPA, MPA-DW, MPA-AP; Saeki, Kawahara, Aman 2023).
///
/// tau, gamma, delta and K default to the paper's (Sec. 4.2: K = 10 for CUB-200 and Cars196,
/// 2 for SOP). alpha, the scale of eq. (6), (12) and (16), is not given in the paper: 32 is
/// ProxyAnchor's.
public struct MPAConfiguration: Sendable {
    /// alpha, the scale inside the soft-plus terms.
    public var alpha: Double
    /// delta, the margin.
    public var delta: Double
    /// gamma, the temperature of the class similarity (eq. 1).
    public var gamma: Double
    /// tau, the weight of the proxy regulariser (eq. 3).
    public var tau: Double
    /// K, proxies per class.
    public var proxiesPerClass: Int

    /// A configuration; the defaults are the paper's (K = 10 as for CUB-200 and Cars196) and
    /// ProxyAnchor's alpha = 32.
    public init(alpha: Double = 32, delta: Double = 0.1, gamma: Double = 0.1, tau: Double = 0.2,
                proxiesPerClass: Int = 10) {
        self.alpha = alpha
        self.delta = delta
        self.gamma = gamma
        self.tau = tau
        self.proxiesPerClass = proxiesPerClass
    }
}

/// A loss of the MPA family: its pipeline settings come from its `MPAConfiguration`.
public protocol MPAFamilyLoss: ProxyLoss {
    var configuration: MPAConfiguration { get }
}

extension MPAFamilyLoss {
    /// K, from the configuration.
    public var proxiesPerClass: Int { configuration.proxiesPerClass }
    /// gamma, from the configuration.
    public var similarityTemperature: Double { configuration.gamma }
    /// tau, from the configuration.
    public var regularizerWeight: Double { configuration.tau }
}
