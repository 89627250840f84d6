/// An `Encodable` value as a PyValue, keys in the order they are encoded, so a Codable type is
/// written by lockstat's one JSON writer (`JSON.encode`) and reads back with JSONDecoder.
/// Optional properties that are nil are written as None (null), as Python keeps such keys.
public enum PyValueEncoder {
    public static func encode<T: Encodable>(_ value: T) throws -> PyValue { try node(value).value }

    /// One value being encoded: a scalar, or the dict or list its containers fill.
    final class Node {
        var scalar = PyValue.none
        var pairs: [(String, Node)]?
        var items: [Node]?

        var value: PyValue {
            if let pairs { return .stringDict(pairs.map { ($0.0, $0.1.value) }) }
            if let items { return .list(items.map(\.value)) }
            return scalar
        }
    }

    static func node<T: Encodable>(_ value: T, at path: [any CodingKey] = []) throws -> Node {
        let node = Node()
        switch value {
        case let v as Bool: node.scalar = .bool(v)
        case let v as String: node.scalar = .string(v)
        case let v as Double: node.scalar = .float(v)
        case let v as Float: node.scalar = .float(Double(v))
        case let v as any BinaryInteger:
            guard let i = Int64(exactly: v) else {
                throw EncodingError.invalidValue(
                    v, .init(codingPath: path, debugDescription: "\(v) does not fit a 64-bit integer"))
            }
            node.scalar = .int(i)
        default: try value.encode(to: NodeEncoder(node: node, codingPath: path))
        }
        return node
    }

    struct NodeEncoder: Encoder {
        let node: Node
        let codingPath: [any CodingKey]
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
            if node.pairs == nil { node.pairs = [] }
            return KeyedEncodingContainer(Keyed<Key>(node: node, codingPath: codingPath))
        }

        func unkeyedContainer() -> any UnkeyedEncodingContainer {
            if node.items == nil { node.items = [] }
            return Unkeyed(node: node, codingPath: codingPath)
        }

        func singleValueContainer() -> any SingleValueEncodingContainer { Single(node: node, codingPath: codingPath) }
    }

    struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let node: Node
        let codingPath: [any CodingKey]

        func add(_ key: Key) -> Node {
            let child = Node()
            node.pairs!.append((key.stringValue, child))
            return child
        }

        mutating func encodeNil(forKey key: Key) throws { _ = add(key) }
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            node.pairs!.append((key.stringValue, try PyValueEncoder.node(value, at: codingPath + [key])))
        }
        mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws {
            if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
        }
        mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws {
            if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
        }
        mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws {
            if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
        }
        mutating func encodeIfPresent(_ value: Int32?, forKey key: Key) throws {
            if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
        }
        mutating func encodeIfPresent(_ value: Double?, forKey key: Key) throws {
            if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
        }
        mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws {
            if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
        }
        mutating func encodeIfPresent(_ value: Float?, forKey key: Key) throws {
            if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
        }
        mutating func encodeIfPresent(_ value: Int8?, forKey key: Key) throws {
            if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
        }
        mutating func encodeIfPresent(_ value: Int16?, forKey key: Key) throws {
            if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
        }
        mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws {
            if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
        }
        mutating func encodeIfPresent(_ value: UInt?, forKey key: Key) throws {
            if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
        }
        mutating func encodeIfPresent(_ value: UInt8?, forKey key: Key) throws {
            if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
        }
        mutating func encodeIfPresent(_ value: UInt16?, forKey key: Key) throws {
            if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
        }
        mutating func encodeIfPresent(_ value: UInt32?, forKey key: Key) throws {
            if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
        }
        mutating func encodeIfPresent(_ value: UInt64?, forKey key: Key) throws {
            if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
        }

        mutating func nestedContainer<NestedKey: CodingKey>(
            keyedBy keyType: NestedKey.Type,
            forKey key: Key
        ) -> KeyedEncodingContainer<NestedKey> {
            NodeEncoder(node: add(key), codingPath: codingPath + [key]).container(keyedBy: keyType)
        }
        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            NodeEncoder(node: add(key), codingPath: codingPath + [key]).unkeyedContainer()
        }
        mutating func superEncoder() -> any Encoder { NodeEncoder(node: node, codingPath: codingPath) }
        mutating func superEncoder(forKey key: Key) -> any Encoder {
            NodeEncoder(node: add(key), codingPath: codingPath + [key])
        }
    }

    struct Unkeyed: UnkeyedEncodingContainer {
        let node: Node
        let codingPath: [any CodingKey]
        var count: Int { node.items!.count }

        func add() -> Node {
            let child = Node()
            node.items!.append(child)
            return child
        }

        mutating func encodeNil() throws { _ = add() }
        mutating func encode<T: Encodable>(_ value: T) throws {
            node.items!.append(try PyValueEncoder.node(value, at: codingPath))
        }
        mutating func nestedContainer<NestedKey: CodingKey>(
            keyedBy keyType: NestedKey.Type
        ) -> KeyedEncodingContainer<NestedKey> {
            NodeEncoder(node: add(), codingPath: codingPath).container(keyedBy: keyType)
        }
        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
            NodeEncoder(node: add(), codingPath: codingPath).unkeyedContainer()
        }
        mutating func superEncoder() -> any Encoder { NodeEncoder(node: add(), codingPath: codingPath) }
    }

    struct Single: SingleValueEncodingContainer {
        let node: Node
        let codingPath: [any CodingKey]

        mutating func encodeNil() throws { node.scalar = .none }
        mutating func encode<T: Encodable>(_ value: T) throws {
            let encoded = try PyValueEncoder.node(value, at: codingPath)
            node.scalar = encoded.scalar
            node.pairs = encoded.pairs
            node.items = encoded.items
        }
    }
}
