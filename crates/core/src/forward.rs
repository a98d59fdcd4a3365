//! Forwarding impls of the adapter-facing traits for smart pointers, from one
//! macro, so that an `Arc<MyAdapter>` or a `Box<dyn StorageAdapter>` is an
//! adapter too.
//!
//! Every method, provided ones included, must be listed: a wrapper that left
//! a provided method to its default would silently change behaviour (a
//! forgotten `wake_ups` turns live subscriptions into polling). The generated
//! impls deny clippy's `missing_trait_methods`, so adding a method to a trait
//! without listing it here fails the lint run.

/// Implements `$trait` for each of the given pointer types over any
/// `T: $trait + ?Sized`, forwarding every listed method to `**self`. Methods
/// are written as in the trait, without bodies, each marked `async` or `sync`.
///
/// Not part of the public API: used by eventblocks' own crates.
#[doc(hidden)]
#[macro_export]
macro_rules! __forward_trait {
    ($trait:path, [$($pointer:ident),+] $methods:tt) => {
        $( $crate::__forward_trait!(@impl $trait, $pointer $methods); )+
    };
    (@impl $trait:path, $pointer:ident { $($methods:tt)* }) => {
        $crate::__forward_trait!(@munch $trait, $pointer, [] $($methods)*);
    };
    // Each method becomes its forwarding body, so that `async_trait` sees
    // plain `async fn`s when the impl is finally written.
    (
        @munch $trait:path, $pointer:ident, [$($done:tt)*]
        async fn $name:ident(&self $(, $arg:ident : $ty:ty)* $(,)?) -> $ret:ty; $($rest:tt)*
    ) => {
        $crate::__forward_trait!(@munch $trait, $pointer, [
            $($done)*
            async fn $name(&self $(, $arg: $ty)*) -> $ret {
                (**self).$name($($arg),*).await
            }
        ] $($rest)*);
    };
    (
        @munch $trait:path, $pointer:ident, [$($done:tt)*]
        sync fn $name:ident(&self $(, $arg:ident : $ty:ty)* $(,)?) -> $ret:ty; $($rest:tt)*
    ) => {
        $crate::__forward_trait!(@munch $trait, $pointer, [
            $($done)*
            fn $name(&self $(, $arg: $ty)*) -> $ret {
                (**self).$name($($arg),*)
            }
        ] $($rest)*);
    };
    (@munch $trait:path, $pointer:ident, [$($done:tt)*]) => {
        #[deny(clippy::missing_trait_methods)]
        #[$crate::async_trait]
        impl<T: $trait + ?Sized> $trait for $pointer<T> {
            $($done)*
        }
    };
}
